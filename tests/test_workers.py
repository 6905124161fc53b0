"""A search beyond one process: workers sharing one study on a real PostgreSQL server, a killed worker's trial
retried, no password in any file or log, bad storage refused, and Hydra's joblib and submitit launchers. The
sweeper's own mechanics run on the plain bowl app (tests/apps/bowl); what sts_lab's jobs add (finding their
trial in the storage, masking the password in their files) on the tiny BERT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._workers import TrialSeededSampler, ask, beyond_budget, claim_job_numbers
from tests.conftest import TINY
from tests.helpers.sweeps import BOWL_APP, REPO

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SHARED = [  # the command every worker runs: one study in the storage named by $STS_LAB_STORAGE
    "hydra.sweeper.storage=${oc.env:STS_LAB_STORAGE}", "hydra.sweeper.study_name=shared", "hydra.sweeper.n_jobs=1",
    "hydra.sweeper.sampler.seed=5", "x=interval(-4, 4)",
]


def worker(tmp_path: Path, url: str, *args: str, sweep_dir: Path | None = None) -> subprocess.Popen:
    """A bowl-app worker on the shared study."""
    command = [sys.executable, str(BOWL_APP), "--multirun", *SHARED, *args,
               f"hydra.sweep.dir={sweep_dir or tmp_path / 'sweep'}"]
    env = {**os.environ, "STS_LAB_STORAGE": url, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: int = 600) -> str:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr
    return stdout + stderr


@pytest.mark.e2e
def test_two_workers_share_one_study(tmp_path, postgres_url):
    # Started at the same moment on an empty database: the study is created once, and the two run 6 trials in all.
    processes = [worker(tmp_path, postgres_url, "hydra.sweeper.n_trials=6", "sleep=0.5") for _ in range(2)]
    logs = [finish(process) for process in processes]
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == 6 and len({t.number for t in finished}) == 6
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both worked on it
    assert len({t.params["x"] for t in finished}) == 6  # same seed, yet no suggestion repeated
    assert len(optuna.get_all_study_names(postgres_url)) == 1
    job_dirs = {t.user_attrs["job_dir"] for t in finished}
    assert len(job_dirs) == 6  # each trial in its own job dir, none written by both workers
    trials = pd.read_csv(tmp_path / "sweep" / "trials.csv")
    assert (trials.state.isin(["COMPLETE", "PRUNED"])).sum() == 6
    # The password came from the environment: it is in no file of the sweep dir and in no log line.
    password = postgres_url.split(":")[2].split("@")[0]
    leaks = [path for path in (tmp_path / "sweep").rglob("*") if path.is_file() and password.encode() in path.read_bytes()]
    assert not leaks and not any(password in log for log in logs)


@pytest.mark.e2e
def test_a_password_on_the_command_line_is_masked_everywhere(tmp_path, postgres_url):
    # Typed out in full: Hydra's own config files, the logs and the W&B run all show it masked.
    password = postgres_url.split(":")[2].split("@")[0]
    command = [sys.executable, "-m", "sts_lab", "--multirun", "hydra/sweeper=optuna", *TINY, f"hydra.sweeper.storage={postgres_url}",
               "hydra.sweeper.n_trials=1", "optimizer.lr=tag(log, interval(1e-4, 1e-2))", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    files = [path for path in (tmp_path / "sweep").rglob("*") if path.is_file()]
    assert any(path.name == "hydra.yaml" for path in files) and any("wandb" in path.parts for path in files)
    assert not [path for path in files if password.encode() in path.read_bytes()]
    assert password not in result.stdout + result.stderr
    assert "sts:***@" in (tmp_path / "sweep" / "0" / ".hydra" / "hydra.yaml").read_text()


@pytest.mark.e2e
def test_a_killed_workers_trial_is_failed_by_heartbeat_and_retried_by_another(tmp_path, postgres_url):
    args = ["hydra.sweeper.n_trials=3", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]
    doomed = worker(tmp_path, postgres_url, *args, "sleep=60")
    storage = optuna.storages.RDBStorage(postgres_url)
    deadline = time.monotonic() + 300
    running = []
    while time.monotonic() < deadline and not running:
        time.sleep(0.2)
        try:
            study = optuna.load_study(study_name="shared", storage=storage)
        except KeyError:
            continue
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,))
                   if t.user_attrs.get("worker", "").endswith(f":{doomed.pid}")]
    assert running, "the first worker never got a trial"
    doomed.send_signal(signal.SIGKILL)  # mid-trial: the job runs in the worker's process
    doomed.wait()

    finish(worker(tmp_path, postgres_url, *args))
    study = optuna.load_study(study_name="shared", storage=storage)
    (killed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert killed.number == running[0].number and "error" not in killed.user_attrs
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == 3
    (retry,) = [t for t in finished if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.params == killed.params and not retry.user_attrs["worker"].endswith(f":{doomed.pid}")


@pytest.mark.e2e
@pytest.mark.parametrize(("storage", "message"), [
    ("mysql+nodriver://u:secret@h/db", "not a database URL SQLAlchemy knows"),
    ("nonsense", "not a database URL SQLAlchemy knows"),
    ("postgresql://sts:secret@127.0.0.1:9/sts", "cannot connect"),
])
def test_bad_storage_is_refused_in_one_line_with_nothing_written(tmp_path, storage, message):
    result = subprocess.run([sys.executable, "-m", "sts_lab", "--multirun", "hydra/sweeper=optuna", *TINY,
                             f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stdout + result.stderr
    assert not (tmp_path / "sweep").exists()


@pytest.mark.e2e
def test_wrong_password_and_a_different_study_are_refused(tmp_path, postgres_server, postgres_url):
    def run(url: str, *args: str, x: str = "interval(-4, 4)") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(BOWL_APP), "--multirun", *SHARED[:-1], "hydra.sweeper.n_trials=1",
                               f"x={x}", *args, f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env={**os.environ, "STS_LAB_STORAGE": url})

    wrong = postgres_url.replace(postgres_server.password, "not-the-password")
    result = run(wrong)
    assert result.returncode != 0 and "cannot connect" in result.stderr and "password authentication failed" in result.stderr
    assert "not-the-password" not in result.stderr and not (tmp_path / "sweep").exists()

    assert run(postgres_url).returncode == 0
    before = (tmp_path / "sweep" / "multirun.yaml").read_text()
    result = run(postgres_url, "hydra.sweeper.direction=maximize")
    assert result.returncode != 0 and "study 'shared' in this storage has direction ['minimize']" in result.stderr
    result = run(postgres_url, "y=choice(0, 1)", x="interval(-2, 2)")
    assert result.returncode != 0 and "searched another space" in result.stderr
    assert "x changed" in result.stderr and "y added" in result.stderr
    assert (tmp_path / "sweep" / "multirun.yaml").read_text() == before  # nothing rewritten


# Launchers ---------------------------------------------------------------------------------------------------


def overlapping(trials: list[optuna.trial.FrozenTrial]) -> bool:
    first, second = sorted(trials, key=lambda t: t.datetime_start)[:2]
    return second.datetime_start < first.datetime_complete


@pytest.mark.e2e
def test_the_joblib_launcher_runs_two_trials_at_once(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, str(BOWL_APP), "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2", "sleep=2", "x=interval(-4, 4)", f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 and overlapping(study.trials)


@pytest.mark.e2e
def test_the_submitit_local_launcher_runs_the_trials(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, str(BOWL_APP), "--multirun", "hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2",
         "hydra.sweeper.n_trials=2", "hydra.launcher.timeout_min=10", "x=interval(-4, 4)", f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:  # each value is the bowl's, computed in a submitit process
        assert trial.value == pytest.approx((trial.params["x"] - 1) ** 2 + 4)
    assert (sweep_dir / ".submitit").is_dir()


# The pieces that let workers share a study ------------------------------------------------------------------


def test_a_trial_goes_stale_when_its_worker_dies_right_after_asking(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage)
    ask(study)  # and nothing more: the worker dies before its jobs start beating
    time.sleep(2.5)
    optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.trials] == [TrialState.FAIL]


def test_the_lower_trial_number_keeps_the_last_slot():
    study = optuna.create_study()
    for value in (0.1, 0.2):
        trial = study.ask()
        study.tell(trial, value)
    first, second = study.ask(), study.ask()  # two workers, each saw one free slot of n_trials=3
    assert not beyond_budget(study, first, 3) and beyond_budget(study, second, 3)


def test_trial_seeded_sampler_draws_per_trial_number():
    def suggestions(studies: int) -> list[float]:
        values = []
        for _ in range(studies):
            study = optuna.create_study(sampler=TrialSeededSampler(lambda seed: optuna.samplers.RandomSampler(seed=seed), 5))
            values.append(study.ask().suggest_float("x", 0, 1))
        return values

    # Two workers with one seed: their first trials (numbers 0 and 1 of one study) draw differently...
    study = optuna.create_study(sampler=TrialSeededSampler(lambda seed: optuna.samplers.RandomSampler(seed=seed), 5))
    first, second = study.ask().suggest_float("x", 0, 1), study.ask().suggest_float("x", 0, 1)
    assert first != second
    assert len(set(suggestions(2))) == 1
    # ... and a trial number draws the same whatever ran before it: a fresh sampler (a resumed search, another
    # worker) whose first trial is number 1 draws trial 1's value, where a plainly seeded sampler draws trial 0's.
    resumed = optuna.create_study(sampler=TrialSeededSampler(lambda seed: optuna.samplers.RandomSampler(seed=seed), 5))
    resumed.add_trial(optuna.trial.create_trial(value=0.0, params={"x": 0.5},
                                                distributions={"x": optuna.distributions.FloatDistribution(0, 1)}))
    assert resumed.ask().suggest_float("x", 0, 1) == second


def test_job_numbers_are_claimed_once(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    (tmp_path / "0").mkdir()
    with ProcessPoolExecutor(2) as pool:
        firsts = list(pool.map(claim_job_numbers, [tmp_path] * 6, [2] * 6))
    numbers = sorted(n for first in firsts for n in (first, first + 1))
    assert numbers == list(range(1, 13))


def test_parallel_jobs_each_take_a_gpu_of_their_own(tmp_path, monkeypatch):
    from sts_lab.run import devices

    monkeypatch.setattr(devices, "_held", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert devices.take_one_gpu(tmp_path) == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert devices.take_one_gpu(tmp_path) == "3"  # the next job of the same process keeps its GPU
    first = devices._held
    # Other processes (their own open files: flock excludes them as it excludes another process).
    monkeypatch.setattr(devices, "_held", None)
    assert devices.claim_gpu(["3", "5"], tmp_path) == "5"
    monkeypatch.setattr(devices, "_held", None)
    assert devices.claim_gpu(["3", "5"], tmp_path) is None
    first[1].close()  # the first process exits: its GPU is free again
    monkeypatch.setattr(devices, "_held", None)
    assert devices.claim_gpu(["3", "5"], tmp_path) == "3"

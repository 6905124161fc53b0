"""The Optuna sweeper on a plain Hydra app (tests/apps/bowl): every ordinary path of a search ends with the
right result or one clear line. Each search is a subprocess, as a user runs it, and takes a few seconds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from sts_lab.names import INTERRUPTED_ATTR, RETRY_OF_ATTR, confirm_study_name
from tests.helpers.sweeps import BOWL_APP, bowl_search, job_dirs, job_overrides, load, storage, studies_in

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SPACE = ["x=interval(-4, 4)", "y=choice(-2, 0, 2)"]


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_plain_app_without_objective_is_searched_for_its_return_value(tmp_path):
    ok(bowl_search(tmp_path, *SPACE, "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=3"))
    study = load(tmp_path / "sweep")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    for trial in study.trials:  # minimized: (x - 1)^2 + (y + 2)^2, the app's own return value
        assert trial.value == pytest.approx((trial.params["x"] - 1) ** 2 + (trial.params["y"] + 2) ** 2)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE


# Grids ---------------------------------------------------------------------------------------------------------


GRID = ["hydra/sweeper/sampler=grid", "x=choice(0, 1)", "y=range(-2, 0)"]  # 2 x 2 points: range excludes its stop


def test_a_grid_runs_every_point_once_then_ends_and_a_resumed_grid_runs_nothing(tmp_path):
    result = ok(bowl_search(tmp_path, *GRID, "hydra.sweeper.n_trials=5", "hydra.sweeper.sampler.seed=0"))
    assert "n_trials=5 capped at the grid's 4 points" in result.stdout + result.stderr
    study = load(tmp_path / "sweep")
    points = sorted((t.params["x"], t.params["y"]) for t in study.trials)
    assert points == [(0, -2), (0, -1), (1, -2), (1, -1)] and all(t.state == TrialState.COMPLETE for t in study.trials)
    ok(bowl_search(tmp_path, *GRID, "hydra.sweeper.n_trials=5", "hydra.sweeper.sampler.seed=0"))
    assert len(load(tmp_path / "sweep").trials) == 4 and len(job_dirs(tmp_path / "sweep")) == 4


def test_a_search_stopped_by_failures_resumes_once_the_cause_is_fixed(tmp_path):
    # A wrong path: the first trial fails and max_failure_rate=0 stops the search with the job's error.
    stopped = bowl_search(tmp_path, *GRID, "data=missing", "hydra.sweeper.sampler.seed=0")
    assert stopped.returncode != 0 and "data=missing: no such data" in stopped.stderr
    # Fixed: the failures of the earlier run do not count, and the failed grid point is run again.
    ok(bowl_search(tmp_path, *GRID, "hydra.sweeper.sampler.seed=0"))
    study = load(tmp_path / "sweep")
    complete = sorted((t.params["x"], t.params["y"]) for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert complete == [(0, -2), (0, -1), (1, -2), (1, -1)]
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 1


def test_float_range_values_reach_jobs_rounded_to_the_step(tmp_path):
    for sampler in ("random", "grid"):
        ok(bowl_search(tmp_path, "x=range(0.1, 0.9, step=0.1)", f"hydra/sweeper/sampler={sampler}",
                       "hydra.sweeper.n_trials=8", "hydra.sweeper.sampler.seed=1", name=sampler))
        values = [item.split("=")[1] for items in job_overrides(tmp_path / sampler).values() for item in items
                  if item.startswith("x=")]
        assert len(values) == 8 and all(len(value) <= 3 for value in values), values  # 0.3, never 0.30000000000000004
    # The grid excludes the stop, as the official plugin's grid and Hydra's range do.
    assert sorted(float(v) for v in values) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


# Confirmation reruns -------------------------------------------------------------------------------------------


def reruns_of(sweep_dir: Path) -> list[tuple[str, str]]:
    return sorted((next(i for i in items if i.startswith("+search.study=")).split("=")[1],
                   next(i for i in items if i.startswith("+search.rerun_of=")).split("=")[1])
                  for items in job_overrides(sweep_dir).values() if any(i.startswith("+search.rerun_of=") for i in items))


def test_a_resumed_search_with_a_larger_budget_confirms_its_new_best(tmp_path):
    args = ["x=interval(-4, 4)", "improving=true", "hydra.sweeper.confirm_seeds=[1,2]", "hydra.sweeper.sampler.seed=0"]
    ok(bowl_search(tmp_path, *args, "hydra.sweeper.n_trials=2"))
    assert reruns_of(tmp_path / "sweep") == [("sts_lab", "1")] * 2
    ok(bowl_search(tmp_path, *args, "hydra.sweeper.n_trials=4"))
    study = load(tmp_path / "sweep")
    assert study.best_trial.number == 3
    # The older best's reruns stay on disk; the new best got its own.
    assert reruns_of(tmp_path / "sweep") == [("sts_lab", "1")] * 2 + [("sts_lab", "3")] * 2
    confirm = load(tmp_path / "sweep", confirm_study_name("sts_lab", 3))
    assert [t.state for t in confirm.trials] == [TrialState.COMPLETE] * 2


def test_a_plain_and_a_grid_search_in_one_storage_each_get_their_reruns(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    common = ["x=interval(-4, 4)", "hydra.sweeper.study_name=s", f"hydra.sweeper.storage={url}",
              "hydra.sweeper.n_trials=2", "hydra.sweeper.confirm_seeds=[1,2]", "hydra.sweeper.sampler.seed=0"]
    ok(bowl_search(tmp_path, *common, name="plain"))
    ok(bowl_search(tmp_path, *common, "++hydra.sweeper.grid_params.y=[0,1]", name="grid"))
    assert [study for _, study in reruns_of(tmp_path / "plain")] and len(reruns_of(tmp_path / "plain")) == 2
    assert sorted({study for study, _ in reruns_of(tmp_path / "grid")}) == ["s-0", "s-1"]
    assert len(reruns_of(tmp_path / "grid")) == 4
    confirms = {name for name in studies_in(url) if "-confirm-" in name}
    assert len(confirms) == 3  # one per searched study's best: s, s-0, s-1


# Fixed values, conditional spaces ------------------------------------------------------------------------------


def test_a_fixed_value_also_suggested_by_the_custom_space_is_refused_before_any_trial(tmp_path):
    result = bowl_search(tmp_path, "x=interval(0.5, 4)", "z=0.3",
                         "hydra.sweeper.custom_search_space=tests.apps.bowl.spaces.z_for_positive_x")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "z: fixed (z=0.3) and suggested by hydra.sweeper.custom_search_space" in result.stderr
    assert not job_dirs(tmp_path / "sweep")
    assert not (tmp_path / "sweep" / "optuna.db").exists() or studies_in(storage(tmp_path / "sweep")) == {}


def test_a_conditional_space_reads_the_trials_own_values_and_a_raising_one_fails_only_its_trial(tmp_path):
    ok(bowl_search(tmp_path, "x=interval(-4, 4)", "hydra.sweeper.n_trials=6", "hydra.sweeper.sampler.seed=2",
                   "hydra.sweeper.custom_search_space=tests.apps.bowl.spaces.z_for_positive_x", name="conditional"))
    trials = load(tmp_path / "conditional").trials
    assert {t.params["x"] > 0 for t in trials} == {True, False}
    assert all(("z" in t.params) == (t.params["x"] > 0) for t in trials)

    ok(bowl_search(tmp_path, "x=interval(-4, 4)", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=2",
                   "hydra.sweeper.max_failure_rate=1.0",
                   "hydra.sweeper.custom_search_space=tests.apps.bowl.spaces.broken_for_positive_x", name="broken"))
    study = load(tmp_path / "broken")
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed and all("ValueError: no space for a positive x" in t.user_attrs["error"] for t in failed)
    assert len(study.get_trials(states=FINISHED)) == 4


# grid_params ---------------------------------------------------------------------------------------------------


def test_grid_params_with_a_dotted_key_and_a_slash_in_the_study_name(tmp_path):
    ok(bowl_search(tmp_path, "x=interval(-4, 4)", "++hydra.sweeper.grid_params.opt.lr=[0.1,0.2]",
                   "hydra.sweeper.study_name=team/bowl", "hydra.sweeper.n_trials=1"))
    for value in ("0.1", "0.2"):
        study = load(tmp_path / "sweep", f"team/bowl-{value}")
        assert len(study.get_trials(states=FINISHED)) == 1
        job = Path(study.trials[0].user_attrs["job_dir"])
        assert f"opt.lr={value}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert (tmp_path / "sweep" / f"optimization_results_team_bowl-{value}.yaml").is_file()


# Heartbeats, retries, interruptions ----------------------------------------------------------------------------


def test_a_stale_trial_without_heartbeats_is_refused_not_waited_for(tmp_path):
    killed = bowl_search(tmp_path, "x=interval(-4, 4)", "kill=true", "hydra.sweeper.heartbeat_interval=null")
    assert killed.returncode == -signal.SIGKILL
    assert [t.state for t in load(tmp_path / "sweep").trials] == [TrialState.RUNNING]
    refused = bowl_search(tmp_path, "x=interval(-4, 4)", "hydra.sweeper.heartbeat_interval=null", timeout=60)
    assert refused.returncode != 0 and "hydra.sweeper.heartbeat_interval=null: study 'sts_lab' holds RUNNING trials [0]" in refused.stderr
    # With heartbeats on, the trial that never beat is failed after the grace period and its params retried.
    ok(bowl_search(tmp_path, "x=interval(-4, 4)", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=1",
                   "hydra.sweeper.n_trials=1", timeout=60))
    trials = load(tmp_path / "sweep").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE] and trials[0].params == trials[1].params


def test_a_trial_that_kills_its_worker_is_retried_max_retry_times_then_stays_failed(tmp_path):
    beat = ["x=interval(-4, 4)", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=1",
            "hydra.sweeper.n_trials=1", "hydra.sweeper.max_retry=2"]
    for _ in range(3):  # the first run and two retries, each killed by its job
        assert bowl_search(tmp_path, *beat, "kill=true").returncode == -signal.SIGKILL
        time.sleep(1.5)  # past the grace period
    ok(bowl_search(tmp_path, *beat, "kill=false"))
    trials = load(tmp_path / "sweep").trials
    first = trials[0].params
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.COMPLETE]
    assert [t.params for t in trials[:3]] == [first] * 3 and trials[3].params != first
    reason = pd.read_csv(tmp_path / "sweep" / "trials.csv").set_index("number").error[2]
    assert "its worker died 3 times" in reason and "max_retry=2" in reason


def test_an_interrupted_search_resumes_with_the_interrupted_trial_first(tmp_path):
    marker = tmp_path / "running"
    command = [sys.executable, str(BOWL_APP), "--multirun", "x=interval(-4, 4)", "hydra.sweeper.n_trials=2",
               f"wait={marker}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(timeout=60) != 0
    trials = load(tmp_path / "sweep").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert INTERRUPTED_ATTR in trials[0].user_attrs and trials[1].user_attrs[RETRY_OF_ATTR] == 0

    started = time.monotonic()
    ok(bowl_search(tmp_path, "x=interval(-4, 4)", "hydra.sweeper.n_trials=2"))
    assert time.monotonic() - started < 30  # no wait for the heartbeat's grace period (120 s by default)
    trials = load(tmp_path / "sweep").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params


def test_failed_and_nan_trials_do_not_stop_the_search_up_to_max_failure_rate(tmp_path):
    # The whole grid, each point once: data=missing raises, nan=true returns NaN; 1 point of 4 completes.
    grid = ["hydra/sweeper/sampler=grid", "data=choice(ok, missing)", "nan=choice(false, true)", "hydra.sweeper.n_jobs=2"]
    result = ok(bowl_search(tmp_path, *grid, "hydra.sweeper.max_failure_rate=1.0"))
    trials = pd.read_csv(tmp_path / "sweep" / "trials.csv")
    assert sorted(trials.state) == ["COMPLETE"] + ["FAIL"] * 3  # a point that fails is not retried in its run
    errors = " ".join(trials.error.dropna())
    assert "data=missing: no such data" in errors and "[nan]" in errors and "failed: " in result.stdout + result.stderr
    # At most one failure in 4 trials: the second stops the search with that job's own error.
    stopped = bowl_search(tmp_path, *grid, "hydra.sweeper.max_failure_rate=0.25", name="stops")
    assert stopped.returncode != 0 and ("no such data" in stopped.stderr or "[nan]" in stopped.stderr)
    assert (pd.read_csv(tmp_path / "stops" / "trials.csv").state == "FAIL").sum() == 2


def test_a_killed_search_resumes_without_repeating_or_overwriting(tmp_path):
    args = ["x=interval(-4, 4)", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=3",
            "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=1"]
    marker, sweep_dir = tmp_path / "running", tmp_path / "sweep"
    command = [sys.executable, str(BOWL_APP), "--multirun", *args, f"wait={marker}", "wait_trial=2",
               f"hydra.sweep.dir={sweep_dir}"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the third trial runs
    process.kill()  # SIGKILL: no chance to requeue anything
    process.wait()
    first = {job: (sweep_dir / job / ".hydra" / "overrides.yaml").stat().st_mtime_ns for job in job_overrides(sweep_dir)}
    time.sleep(1.5)  # past the grace period: the killed trial's heartbeat is stale

    ok(bowl_search(tmp_path, *args))
    study = load(sweep_dir)
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == 4 and len({t.params["x"] for t in finished}) == 4  # none repeated
    killed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(killed) == 1 and any(t.params == killed[0].params for t in finished)  # failed by heartbeat, retried
    overrides = job_overrides(sweep_dir)
    assert all((sweep_dir / job / ".hydra" / "overrides.yaml").stat().st_mtime_ns == mtime for job, mtime in first.items())
    trial_of_job = {job: next(item for item in items if item.startswith("+search.trial=")) for job, items in overrides.items()}
    assert len(set(trial_of_job.values())) == len(trial_of_job) == 5  # one job dir per trial, numbering went on


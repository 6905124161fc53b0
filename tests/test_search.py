"""The Optuna sweeper (hydra/sweeper=optuna) as a user runs it: tiny searches in subprocesses, read back from
their storage, their files and their W&B runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._core import grid_points
from hydra_plugins.sts_lab_optuna_sweeper._search_space import search_space
from sts_lab.__main__ import grid_params_as_lists
from tests.conftest import TINY
from tests.test_sweep import offline_run, wandb_inspect

SEARCH = ["hydra/sweeper=optuna", *TINY]


def search(tmp_path: Path, *args: str, name: str = "sweep", timeout: int = 600) -> tuple[Path, subprocess.CompletedProcess]:
    sweep_dir = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", "--multirun", *SEARCH, *args, f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )
    return sweep_dir, result


def storage(sweep_dir: Path) -> str:
    return f"sqlite:///{sweep_dir / 'optuna.db'}"


def job_overrides(sweep_dir: Path) -> dict[str, list[str]]:
    return {path.parent.parent.name: OmegaConf.to_container(OmegaConf.load(path))
            for path in sweep_dir.glob("*/.hydra/overrides.yaml")}


# The grammar -------------------------------------------------------------------------------------------------


def test_override_grammar_maps_to_optuna_distributions():
    space = search_space(
        {"x": "range(-5.5, 5.5, step=0.5)", "y": "choice(-5, 0, 5)"},  # the official plugin's sphere example
        ["a=range(1,3)", "b=interval(1,5)", "c=int(interval(1,5))", "d=tag(log, interval(1e-6, 1e-4))",
         "e=tag(log, int(interval(1, 100)))", "f=x,y", "g=5", "~h", "+i=[1,2]"],
    )
    assert space.distributions == {
        "x": FloatDistribution(-5.5, 5.5, step=0.5), "y": CategoricalDistribution([-5, 0, 5]),
        "a": IntDistribution(1, 3), "b": FloatDistribution(1.0, 5.0), "c": IntDistribution(1, 5),
        "d": FloatDistribution(1e-6, 1e-4, log=True), "e": IntDistribution(1, 100, log=True),
        "f": CategoricalDistribution(["x", "y"]),
    }
    assert space.fixed == ["g=5", "~h", "+i=[1,2]"]


def test_a_plain_value_on_the_command_line_fixes_a_searched_key():
    space = search_space({"x": "range(-5.5, 5.5, step=0.5)", "y": "choice(-5, 0, 5)"}, ["y=0"])
    assert list(space.distributions) == ["x"] and space.fixed == ["y=0"]


def test_grid_params_make_one_study_per_value():
    points = grid_points({"loss": ["cosine", "cosent"], "pooling": "mean"}, "s")
    assert [(p.study_name, p.overrides) for p in points] == [
        ("s-cosine-mean", ["loss=cosine", "pooling=mean"]), ("s-cosent-mean", ["loss=cosent", "pooling=mean"]),
    ]
    assert grid_params_as_lists(["hydra.sweeper.grid_params.loss=cosine,angle", "loss=cosine,angle"]) == [
        "++hydra.sweeper.grid_params.loss=[cosine,angle]", "loss=cosine,angle",
    ]


# Start-up ----------------------------------------------------------------------------------------------------


def test_help_imports_neither_torch_nor_optuna_and_the_plugin_is_listed(tmp_path):
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "sts_lab", "--help"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60).stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert "torch" not in modules and "optuna" not in modules and "sentence_transformers" not in modules
    info = subprocess.run([sys.executable, "-m", "sts_lab", "--info", "plugins"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout
    assert "OptunaSweeper" in info


@pytest.mark.parametrize(("args", "message"), [
    (["hydra/sweeper/pruner=median", "objective=[dev_spearman,train_seconds]", "hydra.sweeper.direction=[maximize,minimize]",
      "optimizer.lr=interval(1e-4,1e-3)"], "hydra.sweeper.pruner: Optuna prunes single-objective studies only"),
    (["objective=[dev_spearman,train_seconds]", "optimizer.lr=interval(1e-4,1e-3)"],
     "hydra.sweeper.direction: 1 direction(s) for 2 objective(s)"),
    (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials: must be >= 1"),
])
def test_a_search_that_cannot_run_is_refused_before_any_job(tmp_path, args, message):
    sweep_dir, result = search(tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(sweep_dir.glob("*/metrics.json"))


def test_the_deprecated_search_space_is_refused():
    from hydra_plugins.sts_lab_optuna_sweeper._core import OptunaSearch
    from sts_lab.errors import StsLabError

    with pytest.raises(StsLabError, match="hydra.sweeper.search_space: the deprecated form is not supported"):
        OptunaSearch(sampler=None, pruner=None, direction="maximize", storage=None, study_name=None, n_trials=1,
                     n_jobs=1, max_failure_rate=0, params=None, custom_search_space=None, search_space={"x": 1},
                     grid_params=None, confirm_seeds=None, heartbeat_interval=None, grace_period=None)


# Searches ----------------------------------------------------------------------------------------------------


def test_seeded_search_writes_results_that_agree_with_the_study(tmp_path):
    sweep_dir, result = search(
        tmp_path, "logger=none", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", "hydra.sweeper.sampler.seed=7",
        "optimizer.lr=tag(log, interval(1e-4, 1e-2))", "trainer.batch_size=choice(8, 16)",
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=storage(sweep_dir))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    results = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert results["name"] == "optuna"
    assert results["best_value"] == pytest.approx(study.best_value)
    assert results["best_params"] == study.best_params and set(results["best_params"]) == {"optimizer.lr", "trainer.batch_size"}
    trials = pd.read_csv(sweep_dir / "trials.csv")
    assert list(trials.number) == [0, 1, 2] and set(trials.state) == {"COMPLETE"} and list(trials.steps) == [4, 4, 4]
    for trial in study.trials:  # each trial's value is the dev Spearman its own job wrote
        job_dir = Path(trial.user_attrs["job_dir"])
        assert json.loads((job_dir / "metrics.json").read_text())["dev_spearman"] == pytest.approx(trial.value)
        assert f"+search.trial={trial.number}" in (job_dir / ".hydra" / "overrides.yaml").read_text()
    assert (sweep_dir / "optuna_history.png").is_file() and (sweep_dir / "optuna_parallel_coordinate.png").is_file()


def test_several_objectives_give_the_pareto_solutions(tmp_path):
    sweep_dir, result = search(
        tmp_path, "logger=none", "objective=[dev_spearman,train_seconds]", "hydra.sweeper.direction=[maximize,minimize]",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=0", "optimizer.lr=tag(log, interval(1e-4, 1e-2))",
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=storage(sweep_dir))
    results = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert [s["number"] for s in results["solutions"]] == [t.number for t in study.best_trials]
    assert all(len(s["values"]) == 2 for s in results["solutions"])
    assert (sweep_dir / "optuna_pareto_front.png").is_file()


@pytest.fixture(scope="module")
def grid_search(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """Two losses, three trials each, median pruning from the second trial on, the best rerun with two seeds;
    W&B offline."""
    return search(
        tmp_path_factory.mktemp("grid"), "trainer.max_steps=8", "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.sampler.seed=1", "hydra.sweeper.grid_params.loss=cosine,angle", "hydra.sweeper.confirm_seeds=[1,2]",
        "hydra.sweeper.custom_search_space=sts_lab.search_spaces.loss_scale", "optimizer.lr=tag(log, interval(1e-5, 1e-2))",
    )


def test_grid_params_give_each_loss_a_study_with_the_same_budget(grid_search):
    sweep_dir, result = grid_search
    assert result.returncode == 0, result.stderr
    for loss in ("cosine", "angle"):
        study = optuna.load_study(study_name=f"sts_lab-{loss}", storage=storage(sweep_dir))
        assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 3
        assert all(("loss.scale" in t.params) == (loss == "angle") for t in study.trials)  # custom_search_space
        assert (sweep_dir / f"optimization_results_sts_lab-{loss}.yaml").is_file()


def test_a_pruned_trial_stops_early_and_is_pruned_everywhere(grid_search):
    sweep_dir, _ = grid_search
    trials = pd.read_csv(sweep_dir / "trials.csv")
    pruned, complete = trials[trials.state == "PRUNED"], trials[trials.state == "COMPLETE"]
    assert len(pruned) >= 1 and (complete.steps == 8).all() and (pruned.steps < 8).all()
    summary = pd.read_csv(sweep_dir / "summary.csv", dtype={"job": str}).set_index("job")
    for job_dir in map(Path, pruned.job_dir):
        assert summary.status[job_dir.name] == "pruned"
        assert (job_dir / "pruned.json").is_file() and not (job_dir / "metrics.json").exists()
        curve = pd.read_csv(job_dir / "dev_curve.csv")  # kept up to the pruned step
        assert 1 <= len(curve) and curve.step.max() < 8
        inspected = json.loads(wandb_inspect(offline_run(job_dir), "--summary"))
        assert inspected["summary"]["state"] == "pruned" and inspected["config"]["search"]["trial"] >= 1


def test_each_trial_is_a_wandb_run_of_the_study_group(grid_search):
    sweep_dir, _ = grid_search
    trials = pd.read_csv(sweep_dir / "trials.csv")
    row = trials[trials.state == "COMPLETE"].iloc[0]
    run_dir = offline_run(Path(row.job_dir))
    inspected = json.loads(wandb_inspect(run_dir, "--summary"))
    assert inspected["config"]["search"] == {"study": row.study, "trial": int(row.number)}
    assert inspected["config"]["optimizer"]["lr"] == pytest.approx(row["params_optimizer.lr"])
    assert inspected["summary"]["state"] == "finished"
    records = [json.loads(line) for line in wandb_inspect(run_dir).splitlines() if line.strip()]
    assert [r["run"]["run_group"] for r in records if r["type"] == "run"] == ["sts_lab"]


def test_confirmation_reruns_land_in_the_report(grid_search):
    sweep_dir, _ = grid_search
    reruns = {job: overrides for job, overrides in job_overrides(sweep_dir).items()
              if any(item.startswith("+search.rerun_of=") for item in overrides)}
    assert sorted(item for overrides in reruns.values() for item in overrides if item.startswith("seed=")) == \
        ["seed=1", "seed=1", "seed=2", "seed=2"]
    markdown = (sweep_dir / "summary.md").read_text()
    section = markdown[markdown.index("## Search"):]
    assert "| sts_lab-cosine |" in section and "| sts_lab-angle |" in section
    assert "Paired bootstrap between studies" in section and "study A" in section


def test_failed_and_nan_trials_do_not_stop_the_search(tmp_path):
    # 3 attention heads cannot build (the job raises), lr=1e30 gives a NaN objective. Up to
    # max_failure_rate x n_trials = 2 failures are tolerated; the grid sampler's seed fixes the order.
    args = ["logger=none", "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.max_failure_rate=1.0", "model.random_init.num_attention_heads=choice(2, 3)",
            "optimizer.lr=choice(1e-3, 2e-3, 1e30)"]
    sweep_dir, result = search(tmp_path, *args, "hydra.sweeper.sampler.seed=1")
    assert result.returncode == 0, result.stderr
    trials = pd.read_csv(sweep_dir / "trials.csv")
    assert sorted(trials.state) == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    errors = " ".join(trials.error.dropna())
    assert "attention heads (3)" in errors and "[nan]" in errors
    assert "Trial 0 failed" in result.stdout + result.stderr

    # In this order the third failure comes first: the search stops with that job's own error.
    sweep_dir, result = search(tmp_path, *args, "hydra.sweeper.sampler.seed=2", name="stops")
    assert result.returncode != 0 and "attention heads (3)" in result.stderr
    assert (pd.read_csv(sweep_dir / "trials.csv").state == "FAIL").sum() == 3


def test_a_killed_search_resumes_without_repeating_or_overwriting(tmp_path):
    args = ["logger=none", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=1", "hydra.sweeper.sampler.seed=3",
            "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2", "trainer.max_steps=6",
            "optimizer.lr=tag(log, interval(1e-4, 1e-2))"]
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "sts_lab", "--multirun", *SEARCH, *args, f"hydra.sweep.dir={sweep_dir}"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(sweep_dir.glob("*/metrics.json"))) < 2:
        time.sleep(0.2)
    while time.monotonic() < deadline and not (sweep_dir / "2" / ".hydra").is_dir():
        time.sleep(0.2)  # the third trial has started
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    first = {job: (sweep_dir / job / ".hydra" / "overrides.yaml").stat().st_mtime_ns for job in job_overrides(sweep_dir)}
    time.sleep(3)  # past the grace period: the killed trial's heartbeat is stale

    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=storage(sweep_dir))
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 4 and len({t.number for t in finished}) == 4
    assert len({t.params["optimizer.lr"] for t in finished}) == 4  # none repeated
    killed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(killed) == 1 and any(t.params == killed[0].params for t in finished)  # failed by heartbeat, retried
    overrides = job_overrides(sweep_dir)
    assert all((sweep_dir / job / ".hydra" / "overrides.yaml").stat().st_mtime_ns == mtime for job, mtime in first.items())
    trial_of_job = {job: next(item for item in items if item.startswith("+search.trial=")) for job, items in overrides.items()}
    assert len(set(trial_of_job.values())) == len(trial_of_job)  # one job dir per trial, numbering went on

"""The Optuna sweeper (hydra/sweeper=optuna) as a user runs it: tiny searches in subprocesses, read back from
their storage, their files and their W&B runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._search_space import search_space
from sts_lab.__main__ import grid_params_as_lists
from sts_lab.search.spaces import loss_scale
from sts_lab.names import SWEEPER_TARGET, grid_points
from sts_lab.report.studies import load_studies
from sts_lab.report.render import write_report
from sts_lab.report.study_results import rerun_results
from sts_lab.report.sweep_results import SweepResults, job_row, jobs_table
from tests.conftest import TINY
from tests.helpers.sweeps import job_dirs, studies_in
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
    # A dotted key arrives as a nested node; the choice(...) form as a string.
    points = grid_points({"optimizer": {"warmup_ratio": [0.0, 0.1]}, "loss": "choice(cosine,angle)"}, "s")
    assert [p.overrides for p in points] == [
        ["optimizer.warmup_ratio=0.0", "loss=cosine"], ["optimizer.warmup_ratio=0.0", "loss=angle"],
        ["optimizer.warmup_ratio=0.1", "loss=cosine"], ["optimizer.warmup_ratio=0.1", "loss=angle"],
    ]
    assert grid_params_as_lists([
        "hydra.sweeper.grid_params.loss=cosine,angle", "loss=cosine,angle",
        "hydra.sweeper.grid_params.loss=choice(cosine, angle)", "hydra.sweeper.grid_params.optimizer.warmup_ratio=0.0,0.1",
    ]) == [
        "++hydra.sweeper.grid_params.loss=[cosine,angle]", "loss=cosine,angle",
        "++hydra.sweeper.grid_params.loss=[cosine, angle]", "++hydra.sweeper.grid_params.optimizer.warmup_ratio=[0.0,0.1]",
    ]


def test_the_loss_scale_space_reads_the_trials_own_loss():
    cfg = OmegaConf.create({"hydra": {"runtime": {"choices": {"loss": "cosent"}}}})  # the default loss: cosent
    study = optuna.create_study()
    for loss, scaled in (("cosine", False), ("angle", True)):
        study.enqueue_trial({"loss": loss})
        trial = study.ask({"loss": CategoricalDistribution(["cosine", "cosent", "angle"])})  # loss=choice(...)
        loss_scale(cfg, trial)
        assert ("loss.scale" in trial.params) == scaled


def make_study(url: str, name: str, values: list[float]) -> None:
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    for value in values:
        study.add_trial(optuna.trial.create_trial(value=value, params={"x": value},
                                                  distributions={"x": FloatDistribution(0, 1)}))


def test_the_report_reads_its_own_studies_and_the_reruns_of_the_current_best(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    make_study(url, "stsb", [0.5, 0.7])  # best: trial 1
    make_study(url, "stsb-minilm", [0.9])  # another search, sharing the prefix
    (tmp_path / "multirun.yaml").write_text(OmegaConf.to_yaml({"hydra": {"sweeper": {
        "_target_": SWEEPER_TARGET, "study_name": "stsb", "storage": url, "grid_params": {}}}}))
    studies = load_studies(tmp_path)
    assert list(studies.study) == ["stsb"] and list(studies.best_trial) == [1]

    metrics = {"zero_shot_test_spearman": 0.1, "dev_spearman": 0.5, "best_dev_spearman": 0.5, "test_spearman": 0.4,
               "train_seconds": 1.0}
    rows = [job_row(str(number), ["+search.study=stsb", f"+search.rerun_of={rerun_of}", f"seed={seed}"], "completed", metrics)
            for number, (rerun_of, seed) in enumerate([(0, 1), (0, 2), (1, 1), (1, 2)])]
    results = SweepResults(jobs_table(rows), studies=studies)
    reruns = rerun_results(results)
    assert list(reruns.jobs.job) == ["2", "3"]  # the reruns of trial 0, best before a resume, stay out
    written = write_report(results, tmp_path / "report")
    assert [path.name for path in written] == ["summary.csv", "summary.md", "comparison.png", "reruns.png"]


# Start-up ----------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_help_imports_neither_torch_nor_optuna_and_the_plugin_is_listed(tmp_path):
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "sts_lab", "--help"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60).stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert "torch" not in modules and "optuna" not in modules and "sentence_transformers" not in modules
    info = subprocess.run([sys.executable, "-m", "sts_lab", "--info", "plugins"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout
    assert "OptunaSweeper" in info


@pytest.mark.e2e
@pytest.mark.parametrize(("args", "message"), [
    (["hydra/sweeper/pruner=median", "objective=[dev_spearman,train_seconds]", "hydra.sweeper.direction=[maximize,minimize]",
      "optimizer.lr=interval(1e-4,1e-3)"], "hydra.sweeper.pruner: Optuna prunes single-objective studies only"),
    (["objective=[dev_spearman,train_seconds]", "optimizer.lr=interval(1e-4,1e-3)"],
     "hydra.sweeper.direction: 1 direction(s) for 2 objective(s)"),
    (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials: must be >= 1"),
    (["loss=cosent", "loss.scale=33", "hydra.sweeper.custom_search_space=sts_lab.search.spaces.loss_scale"],
     "loss.scale: fixed (loss.scale=33) and suggested by hydra.sweeper.custom_search_space"),
    (["hydra/sweeper/pruner=hyperband", "trainer.batch_size=choice(8,16)"],
     "hydra.sweeper.pruner: ['trainer.batch_size'] searched: trials report at training steps"),
])
def test_a_search_that_cannot_run_is_refused_before_any_job(tmp_path, args, message):
    sweep_dir, result = search(tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not job_dirs(sweep_dir) if sweep_dir.is_dir() else True
    if (sweep_dir / "optuna.db").is_file():
        assert sum(studies_in(f"sqlite:///{sweep_dir / 'optuna.db'}").values()) == 0  # no trial asked


def test_the_deprecated_search_space_and_the_grid_samplers_own_are_refused():
    from hydra_plugins.sts_lab_optuna_sweeper._core import OptunaSearch
    from sts_lab.errors import StsLabError

    settings = dict(pruner=OmegaConf.create({"_target_": "optuna.pruners.NopPruner"}), direction="maximize", storage=None,
                    study_name=None, n_trials=1, n_jobs=1, max_failure_rate=0, params=None, custom_search_space=None,
                    grid_params=None, confirm_seeds=None, heartbeat_interval=None, grace_period=None)
    with pytest.raises(StsLabError, match="hydra.sweeper.search_space: the deprecated form is not supported"):
        OptunaSearch(sampler=None, search_space={"x": 1}, **settings)
    # Set in a config file (the command line cannot set a node that is null in the schema).
    grid = OmegaConf.create({"_target_": "optuna.samplers.GridSampler", "search_space": {"x": [1, 2]}})
    search = OptunaSearch(sampler=grid, search_space=None, **settings)
    search.config = OmegaConf.create({"objective": "dev_spearman"})
    with pytest.raises(StsLabError, match="hydra.sweeper.sampler.search_space: not supported"):
        search.check(search_space({}, ["x=choice(1, 2)"]))


# Searches ----------------------------------------------------------------------------------------------------


@pytest.mark.e2e
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


@pytest.mark.e2e
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
        "hydra.sweeper.custom_search_space=sts_lab.search.spaces.loss_scale", "optimizer.lr=tag(log, interval(1e-5, 1e-2))",
    )


@pytest.mark.e2e
def test_grid_params_give_each_loss_a_study_with_the_same_budget(grid_search):
    sweep_dir, result = grid_search
    assert result.returncode == 0, result.stderr
    for loss in ("cosine", "angle"):
        study = optuna.load_study(study_name=f"sts_lab-{loss}", storage=storage(sweep_dir))
        assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 3
        assert all(("loss.scale" in t.params) == (loss == "angle") for t in study.trials)  # custom_search_space
        assert (sweep_dir / f"optimization_results_sts_lab-{loss}.yaml").is_file()


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_confirmation_reruns_land_in_the_report(grid_search):
    sweep_dir, _ = grid_search
    reruns = {job: overrides for job, overrides in job_overrides(sweep_dir).items()
              if any(item.startswith("+search.rerun_of=") for item in overrides)}
    assert sorted(item for overrides in reruns.values() for item in overrides if item.startswith("seed=")) == \
        ["seed=1", "seed=1", "seed=2", "seed=2"]
    for overrides in reruns.values():  # each rerun is of its study's best trial, with its parameters
        values = dict(item.split("=", 1) for item in overrides)
        best = optuna.load_study(study_name=values["+search.study"], storage=storage(sweep_dir)).best_trial
        assert int(values["+search.rerun_of"]) == best.number
        assert float(values["optimizer.lr"]) == pytest.approx(best.params["optimizer.lr"])
    markdown = (sweep_dir / "summary.md").read_text()
    section = markdown[markdown.index("## Search"):]
    assert "| sts_lab-cosine |" in section and "| sts_lab-angle |" in section
    assert "Paired bootstrap between studies" in section and "study A" in section
    assert (sweep_dir / "reruns.png").stat().st_size > 10_000


@pytest.mark.e2e
def test_a_relative_sqlite_storage_with_jobs_in_their_own_cwd(tmp_path):
    sweep_dir, result = search(tmp_path, "logger=none", "hydra.sweeper.storage=sqlite:///rel.db", "hydra.job.chdir=true",
                               "hydra.sweeper.n_trials=1", "optimizer.lr=tag(log, interval(1e-4, 1e-2))")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=f"sqlite:///{tmp_path / 'rel.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] and list(tmp_path.rglob("rel.db")) == [tmp_path / "rel.db"]


def test_the_tpe_sampler_takes_the_official_plugins_arguments():
    from hydra.utils import instantiate

    from hydra_plugins.sts_lab_optuna_sweeper.optuna_sweeper import TPESamplerConfig

    config = OmegaConf.merge(OmegaConf.structured(TPESamplerConfig), {
        "seed": 1, "consider_prior": True, "prior_weight": 1.0, "consider_magic_clip": True, "consider_endpoints": False,
    })
    assert isinstance(instantiate(config), optuna.samplers.TPESampler)

"""The sweep report on a hand-made multirun directory: loading, statistics, files, CLI, W&B, callback, notebook."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from scipy.stats import spearmanr

from sts_lab.report.render import configuration_labels, plot_labels, summary_markdown, write_report
from sts_lab.report import SweepReport
from sts_lab.report.statistics import aggregate, paired_bootstrap
from sts_lab.report.sweep_results import load_sweep, load_wandb

# Gold scores with ties, as in STS; each loss's predictions are gold plus noise of a known size.
GOLD = np.random.default_rng(0).uniform(0, 5, 300).round(1)
NOISE = {"cosine": 3.0, "cosent": 0.5, "angle": 1.5}  # cosent best, cosine worst
SEEDS = (1, 2)
FAILED_JOB, INCOMPLETE_JOB = "6", "10"  # "10" also checks jobs sort by number, not name
FAILURE_MESSAGE = "loss=cosine needs labels in [-1, 1]"


def job_metrics(index: int, test_spearman: float) -> dict[str, float]:
    return {
        "zero_shot_test_spearman": 0.2 + 0.01 * index, "dev_spearman": 0.7 + 0.02 * index, "dev_pearson": 0.7,
        "best_dev_spearman": 0.75 + 0.02 * index, "test_spearman": test_spearman, "test_pearson": 0.7,
        "train_loss": 1.0, "train_seconds": 10.0 + 3 * index, "train_samples_per_second": 50.0, "steps": 30,
        "parameters": 1000,
    }


def write_job(job_dir: Path, overrides: list[str]) -> None:
    (job_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job_dir / ".hydra" / "overrides.yaml")


def make_sweep(sweep_dir: Path) -> dict[str, dict[str, float]]:
    """3 losses x 2 seeds completed, one failed and one interrupted job; returns the completed jobs' metrics."""
    (sweep_dir / "multirun.yaml").parent.mkdir(parents=True)
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    rng = np.random.default_rng(1)
    written = {}
    for index, (loss, seed) in enumerate((loss, seed) for loss in NOISE for seed in SEEDS):
        job_dir = sweep_dir / str(index)
        write_job(job_dir, [f"loss={loss}", f"seed={seed}"])
        cosine = GOLD + NOISE[loss] * rng.normal(size=GOLD.size)
        pd.DataFrame({"gold": GOLD, "cosine": cosine}).to_csv(job_dir / "test_predictions.csv", index=False)
        pd.DataFrame({"step": [10, 20, 30], "epoch": [0.33, 0.67, 1.0], "dev_spearman": [0.5, 0.6, 0.7 + index / 100],
                      "dev_pearson": [0.5, 0.6, 0.7]}).to_csv(job_dir / "dev_curve.csv", index=False)
        written[str(index)] = job_metrics(index, float(spearmanr(GOLD, cosine)[0]))
        (job_dir / "metrics.json").write_text(json.dumps(written[str(index)]))
    write_job(sweep_dir / FAILED_JOB, ["loss=cosine", "seed=3"])
    (sweep_dir / FAILED_JOB / "failure.json").write_text(json.dumps({"error": "ValueError", "message": FAILURE_MESSAGE}))
    write_job(sweep_dir / INCOMPLETE_JOB, ["loss=angle", "seed=3"])
    return written


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Path, dict[str, dict[str, float]]]:
    sweep_dir = tmp_path / "multirun" / "2025-01-01" / "12-00-00"
    return sweep_dir, make_sweep(sweep_dir)


def test_load_sweep_reads_every_job(sweep):
    sweep_dir, written = sweep
    results = load_sweep(sweep_dir)
    jobs = results.jobs.set_index("job")

    assert list(results.jobs.columns[:5]) == ["job", "overrides", "loss", "seed", "status"]
    assert list(jobs.index) == [*written, FAILED_JOB, INCOMPLETE_JOB]
    assert jobs.loc["3", "overrides"] == "loss=cosent,seed=2"
    assert jobs.loc["3", "loss"] == "cosent" and jobs.loc["3", "seed"] == 2
    assert jobs.status.to_dict() == {**dict.fromkeys(written, "completed"), FAILED_JOB: "failed", INCOMPLETE_JOB: "incomplete"}
    for job, metrics in written.items():
        for name in ("zero_shot_test_spearman", "dev_spearman", "best_dev_spearman", "test_spearman", "train_seconds"):
            assert jobs.loc[job, name] == pytest.approx(metrics[name])
    assert jobs.loc[FAILED_JOB, "error"] == FAILURE_MESSAGE
    assert jobs.loc[[FAILED_JOB, INCOMPLETE_JOB], "test_spearman"].isna().all()
    assert set(results.curves) == set(results.predictions) == set(written)
    assert list(results.curves["0"].columns) == ["step", "epoch", "dev_spearman", "dev_pearson"]


def test_aggregate_is_mean_and_sample_sd_over_seeds(sweep):
    sweep_dir, written = sweep
    table = aggregate(load_sweep(sweep_dir)).set_index("loss")

    assert list(table.index) == list(NOISE)
    for position, loss in enumerate(NOISE):
        metrics = [written[str(2 * position + offset)] for offset in range(len(SEEDS))]
        assert table.loc[loss, "n"] == len(SEEDS)
        assert table.loc[loss, "configuration"] == f"loss={loss}"
        for name in ("zero_shot_test_spearman", "dev_spearman", "test_spearman", "train_seconds"):
            values = [job[name] for job in metrics]
            assert table.loc[loss, f"{name}_mean"] == pytest.approx(np.mean(values))
            assert table.loc[loss, f"{name}_sd"] == pytest.approx(np.std(values, ddof=1))


def test_paired_bootstrap_separates_least_and_most_noisy_loss(sweep):
    sweep_dir, written = sweep
    table = paired_bootstrap(load_sweep(sweep_dir), key="loss", n_resamples=500)

    assert [(row.a, row.b) for row in table.itertuples()] == [("cosine", "cosent"), ("cosine", "angle"), ("cosent", "angle")]
    row = table.iloc[0]
    assert row.n_seeds_a == row.n_seeds_b == 2  # the failed cosine job is left out
    direct = np.mean([written[job]["test_spearman"] for job in ("0", "1")]) - np.mean(
        [written[job]["test_spearman"] for job in ("2", "3")]
    )
    assert row["diff"] == pytest.approx(direct)
    assert row.ci_low < row["diff"] < row.ci_high < 0
    assert row.p_a_better < 0.05


def test_paired_bootstrap_refuses_different_test_pairs(sweep):
    sweep_dir, _ = sweep
    results = load_sweep(sweep_dir)
    results.predictions["2"] = results.predictions["2"].assign(gold=results.predictions["2"].gold[::-1].to_numpy())
    with pytest.raises(ValueError, match="gold"):
        paired_bootstrap(results)
    assert "Not compared: Jobs 0 and 2 were tested on different pairs" in summary_markdown(results)


def test_paired_bootstrap_is_empty_without_two_values(sweep):
    sweep_dir, _ = sweep
    results = load_sweep(sweep_dir)
    assert paired_bootstrap(results, key="optimizer.lr").empty
    results.jobs = results.jobs[results.jobs.loss == "cosent"]
    assert paired_bootstrap(results).empty


def test_write_report(sweep):
    sweep_dir, written = sweep
    results = load_sweep(sweep_dir)
    paths = write_report(results, sweep_dir / "report")

    assert [path.name for path in paths] == ["summary.csv", "summary.md", "comparison.png"]
    summary = pd.read_csv(paths[0], dtype={"job": str})
    assert list(summary.job) == list(results.jobs.job)
    assert list(summary.status) == ["completed"] * 6 + ["failed", "incomplete"]
    assert summary.test_spearman[:6].to_numpy() == pytest.approx([written[job]["test_spearman"] for job in written])
    markdown = paths[1].read_text()
    assert "8 jobs: 6 completed, 1 failed, 1 incomplete." in markdown
    cosent = aggregate(results).set_index("loss").loc["cosent"]
    assert f"{cosent.test_spearman_mean:.4f} ± {cosent.test_spearman_sd:.4f}" in markdown
    assert "## Paired bootstrap: loss" in markdown and "95% CI" in markdown
    assert FAILURE_MESSAGE in markdown
    png = paths[2].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_figure_labels_are_the_overrides_or_the_summary_numbers_when_too_long(sweep):
    sweep_dir, _ = sweep
    labels = plot_labels(load_sweep(sweep_dir))
    assert sorted(labels.values()) == ["loss=angle", "loss=cosent", "loss=cosine"]
    # Search trials: every trial is a configuration, labelled by all its searched values.
    for job, lr in (("20", "1.411527819587233e-05"), ("21", "7.3624226527676e-05")):
        shutil.copytree(sweep_dir / "0", sweep_dir / job)
        OmegaConf.save(OmegaConf.create(["loss=cosine", f"optimizer.lr={lr}", "optimizer.warmup_ratio=0.1218133078558"]),
                       sweep_dir / job / ".hydra" / "overrides.yaml")
    results = load_sweep(sweep_dir)
    numbered = plot_labels(results)
    assert sorted(numbered.values()) == sorted(f"#{index}" for index in range(1, len(numbered) + 1))
    table = summary_markdown(results)
    assert "| # | configuration |" in table and "| 1 | loss=" in table


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sts_lab.report", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.e2e
def test_cli_writes_report_and_refuses_a_non_sweep(sweep, tmp_path):
    sweep_dir, _ = sweep
    empty = tmp_path / "empty"
    empty.mkdir()
    report, refused = start_cli(str(sweep_dir)), start_cli(str(empty))  # side by side: each spends seconds importing

    stdout, stderr = report.communicate(timeout=60)
    assert report.returncode == 0, stderr
    assert "## Mean ± sd over seeds" in stdout
    assert all((sweep_dir / name).is_file() for name in ("summary.csv", "summary.md", "comparison.png"))
    _, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert "not a Hydra sweep directory" in stderr and "Traceback" not in stderr


class FakeFile:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def download(self, root: str, replace: bool = False) -> None:
        self.frame.to_csv(Path(root) / "test_predictions.csv", index=False)


class FakeRun:
    """The part of wandb.apis.public.Run the report reads, from one job directory."""

    def __init__(self, job_dir: Path, state: str, with_predictions: bool = True) -> None:
        self.id, self.state = f"run{job_dir.name}", state
        self.name = ",".join(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
        metrics = job_dir / "metrics.json"
        self.summary = json.loads(metrics.read_text()) if metrics.is_file() else {}
        self.job_dir, self.with_predictions = job_dir, with_predictions

    def history(self, keys: list[str], x_axis: str, pandas: bool) -> pd.DataFrame:
        curve = pd.read_csv(self.job_dir / "dev_curve.csv")
        return curve.rename(columns={"step": x_axis, "dev_spearman": keys[0], "dev_pearson": keys[1]}).drop(columns="epoch")

    def files(self, names: list[str]) -> list[FakeFile]:
        return [FakeFile(pd.read_csv(self.job_dir / name)) for name in names if self.with_predictions]


class FakeApi:
    def __init__(self, runs: list[FakeRun]) -> None:
        self.runs_ = runs

    def runs(self, path: str, filters: dict) -> list[FakeRun]:
        assert filters == {"group": "losses"}
        return self.runs_


def test_load_wandb_gives_the_same_table(sweep):
    sweep_dir, written = sweep
    runs = [FakeRun(sweep_dir / job, "finished", with_predictions=job != "5") for job in written]
    runs += [FakeRun(sweep_dir / FAILED_JOB, "crashed"), FakeRun(sweep_dir / INCOMPLETE_JOB, "running")]
    results = load_wandb("me/sts", "losses", api=FakeApi(runs))
    from_disk = load_sweep(sweep_dir).jobs

    assert list(results.jobs.columns) == list(from_disk.columns)
    assert list(results.jobs.status) == list(from_disk.status)
    assert list(results.jobs.overrides) == list(from_disk.overrides)
    assert results.jobs.test_spearman.to_numpy() == pytest.approx(from_disk.test_spearman.to_numpy(), nan_ok=True)
    assert set(results.predictions) == {f"run{job}" for job in written} - {"run5"}
    assert list(results.curves["run0"].columns) == ["step", "epoch", "dev_spearman", "dev_pearson"]
    assert paired_bootstrap(results, n_resamples=50).set_index(["a", "b"]).loc[("cosent", "angle"), "n_seeds_b"] == 1


def hydra_config(mode: RunMode, sweep_dir: Path) -> DictConfig:
    return OmegaConf.create({"hydra": {"mode": mode, "sweep": {"dir": str(sweep_dir)}}})


def test_callback_writes_the_report_in_multirun_only(sweep, tmp_path, caplog):
    sweep_dir, _ = sweep
    callback = SweepReport()
    callback.on_job_end(hydra_config(RunMode.RUN, sweep_dir), job_return=None)
    assert not (sweep_dir / "summary.md").exists()

    callback.on_job_end(hydra_config(RunMode.MULTIRUN, sweep_dir), job_return=None)
    assert (sweep_dir / "summary.md").is_file() and (sweep_dir / "comparison.png").is_file()

    callback.on_multirun_end(hydra_config(RunMode.MULTIRUN, tmp_path / "nothing"))  # logged, not raised
    assert "Could not write the sweep report" in caplog.text


def test_configuration_labels_keep_integer_overrides_integers():
    # trainer.epochs is unset (NaN) for some jobs, so the column holds floats; its labels still read as typed.
    summary = pd.DataFrame({"configuration": ["a", "b", "c"], "trainer.epochs": [2.0, 4.0, np.nan],
                            "optimizer.lr": [3e-5, 1.5, 2.0]})
    assert configuration_labels(summary, ["trainer.epochs", "optimizer.lr"]) == [
        "trainer.epochs=2,optimizer.lr=3e-05", "trainer.epochs=4,optimizer.lr=1.5", "optimizer.lr=2"]

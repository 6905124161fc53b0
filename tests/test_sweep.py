"""A tiny --multirun over the three losses, exactly as a user types it, with W&B offline in a temp dir.

One of the two head counts cannot build (32 hidden units over 3 heads), so half the jobs fail at run time:
the sweep goes on, and W&B and the sweep report record those jobs as failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, TINY

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess

LOSSES = ("cosine", "cosent", "angle")
SWEEP = [*TINY, f"loss={','.join(LOSSES)}", "model.random_init.num_attention_heads=2,3"]


def wandb_inspect(run_dir: Path, *flags: str) -> str:
    command = [sys.executable, "-m", "wandb", "leet", "inspect", *flags, "--json", str(run_dir)]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("sweep")
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", "--multirun", *SWEEP, f"hydra.sweep.dir={root}/multirun/day/time"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )
    return root / "multirun" / "day" / "time", result


def job_dirs(sweep_dir: Path) -> dict[tuple[str, int], Path]:
    """(loss, heads) -> job dir, from each job's Hydra overrides."""
    jobs = {}
    for overrides_file in sweep_dir.glob("*/.hydra/overrides.yaml"):
        overrides = dict(line.removeprefix("- ").split("=", 1) for line in overrides_file.read_text().splitlines())
        jobs[overrides["loss"], int(overrides["model.random_init.num_attention_heads"])] = overrides_file.parent.parent
    return jobs


def offline_run(job_dir: Path) -> Path:
    (run_dir,) = job_dir.glob("wandb/offline-run-*")
    return run_dir


def test_sweep_runs_every_job_and_reports_the_failures(sweep):
    sweep_dir, result = sweep
    assert result.returncode != 0, "a failed job must fail the sweep's exit status"
    jobs = job_dirs(sweep_dir)
    assert len(jobs) == 6
    for loss in LOSSES:
        assert (jobs[loss, 2] / "metrics.json").is_file()
        assert not (jobs[loss, 3] / "metrics.json").exists()
        assert "attention heads (3)" in json.loads((jobs[loss, 3] / "failure.json").read_text())["message"]

    summary = pd.read_csv(sweep_dir / "summary.csv").set_index("job")
    for (loss, heads), job_dir in jobs.items():
        row = summary.loc[int(job_dir.name)]
        assert row["loss"] == loss and row["status"] == ("completed" if heads == 2 else "failed")
        if heads == 2:
            metrics = json.loads((job_dir / "metrics.json").read_text())
            assert row["test_spearman"] == pytest.approx(metrics["test_spearman"])
    markdown = (sweep_dir / "summary.md").read_text()
    assert "3 completed, 3 failed" in markdown and "Paired bootstrap: loss" in markdown
    assert (sweep_dir / "comparison.png").stat().st_size > 10_000


def test_the_jobs_starting_from_one_model_score_it_zero_shot_once(sweep):
    sweep_dir, _ = sweep
    completed = [job_dir for (_, heads), job_dir in job_dirs(sweep_dir).items() if heads == 2]
    reused = [job_dir for job_dir in completed if "scored by an earlier job" in (job_dir / "sts_lab.log").read_text()]
    assert len(completed) == 3 and len(reused) == 2  # the three losses fine-tune one model: the first job scores it
    assert len(list((sweep_dir / ".cache").glob("*.json"))) == 1
    zero_shot = {json.loads((job_dir / "metrics.json").read_text())["zero_shot_test_spearman"] for job_dir in completed}
    assert len(zero_shot) == 1


def test_each_completed_job_is_a_wandb_run_of_the_sweep_group(sweep):
    sweep_dir, _ = sweep
    for (loss, heads), job_dir in job_dirs(sweep_dir).items():
        run_dir = offline_run(job_dir)
        inspected = json.loads(wandb_inspect(run_dir, "--summary"))
        records = [json.loads(line) for line in wandb_inspect(run_dir).splitlines() if line.strip()]
        (run,) = [record["run"] for record in records if record["type"] == "run"]
        assert run["run_group"] == "day_time"
        assert run["job_type"] == loss
        assert f"loss={loss}" in inspected["name"] and f"num_attention_heads={heads}" in inspected["name"]
        config = inspected["config"]
        assert config["loss"]["name"] == loss and config["model"]["name"] == "tiny"
        assert config["optimizer"]["lr"] == pytest.approx(1e-3) and config["seed"] == 42
        if heads == 3:
            assert inspected["state"] == "failed"
            continue
        assert inspected["state"] == "finished"
        metrics = json.loads((job_dir / "metrics.json").read_text())
        summary = inspected["summary"]
        for name in ("test_spearman", "test_pearson", "zero_shot_test_spearman", "train_seconds", "parameters"):
            assert summary[name] == pytest.approx(metrics[name])
        assert summary["dev/spearman"]["max"] == pytest.approx(metrics["best_dev_spearman"], abs=1e-9) or \
            summary["dev/spearman"]["max"] <= metrics["best_dev_spearman"]
        history = [record["history"]["item"] for record in records if record["type"] == "history"]
        dev_steps = [item["train/global_step"] for item in history if "dev/spearman" in item]
        assert dev_steps == [2, 4]
        assert any("train/loss" in item and "train/learning_rate" in item for item in history)


def test_logger_none_writes_no_wandb_files(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", *TINY, "logger=none", f"hydra.run.dir={tmp_path}/run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert not list(tmp_path.rglob("*wandb*"))


def test_notebook_runs_on_the_sweep(sweep, tmp_path, monkeypatch):
    sweep_dir, _ = sweep
    monkeypatch.setenv("STS_LAB_SWEEP_DIR", str(sweep_dir))
    notebook = nbformat.read(REPO / "notebooks" / "compare_losses.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    html = "".join(output.data.get("text/html", "") for output in outputs if output.output_type == "execute_result")
    assert all(f"<td>{loss}</td>" in html for loss in LOSSES)  # the jobs table's loss column
    assert any("image/png" in output.get("data", {}) for output in outputs)


def test_unreachable_wandb_server_does_not_stop_training(tmp_path):
    env = {**os.environ, "WANDB_API_KEY": "x" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9"}
    env.pop("WANDB_MODE")
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", *TINY, "logger.init_timeout=5", f"hydra.run.dir={tmp_path}/run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run" / "sts_lab.log").read_text()
    assert "W&B init failed" in log and "logging this run offline instead" in log
    assert json.loads(wandb_inspect(offline_run(tmp_path / "run"), "--summary"))["state"] == "finished"

"""The command line exactly as a user types it, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sts_lab.names import METRIC_NAMES
from tests.conftest import TINY

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sts_lab", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_single_run_writes_metrics(tmp_path):
    result = run_cli(*TINY, "loss=angle", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {*METRIC_NAMES, "precision"} and metrics["steps"] == 4
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    log = (run_dir / "sts_lab.log").read_text()
    assert "Zero-shot test Spearman" in log and "Dev Spearman" in log


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss=triplet", "Could not find 'loss/triplet'"),
        ("optimizer.lr=-1", "optimizer.lr=-1: must be > 0"),
        ("model.name_or_path=nobody/no-such-model", "model.name_or_path='nobody/no-such-model'"),
    ],
)
def test_bad_input_exits_with_one_clear_message(override, message, tmp_path):
    args = [*TINY, override, f"hydra.run.dir={tmp_path}/run"]
    if override.startswith("model."):
        args = [arg for arg in args if arg != "model=tiny"]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("metrics.json"))

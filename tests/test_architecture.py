"""The shape of the code: the import rules of pyproject.toml (import-linter), small modules, and a report that
loads no training stack."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.conftest import REPO

MAX_LINES = 320  # "about 300": a module past this has more than one job


def test_the_import_contracts_hold():
    result = subprocess.run(["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout and result.stdout.count("KEPT") == 4


def test_no_module_is_over_about_300_lines():
    modules = [*REPO.glob("sts_lab/**/*.py"), *REPO.glob("hydra_plugins/**/*.py")]
    long = {str(path.relative_to(REPO)): n for path in modules if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long


@pytest.mark.e2e
@pytest.mark.parametrize("view", [False, True])
def test_the_report_imports_no_training_stack(tmp_path, view):
    from tests.test_report import make_sweep

    sweep_dir = tmp_path / "sweep"
    make_sweep(sweep_dir)
    args = [str(sweep_dir), *(["--wandb", "me/sts_lab", "--view"] if view else [])]
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "sts_lab.report", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "WANDB_MODE": "offline"})
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "sts_lab.report.render" in modules
    assert not {"torch", "transformers", "sentence_transformers"} & modules

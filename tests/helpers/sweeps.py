"""Running searches as a user does (a subprocess per command) and reading them back from their storage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
BOWL_APP = REPO / "tests" / "apps" / "bowl" / "app.py"


def bowl_search(tmp_path: Path, *args: str, name: str = "sweep", timeout: int = 120, **popen) -> subprocess.CompletedProcess:
    """``python tests/apps/bowl/app.py --multirun ARGS`` with its sweep dir in ``tmp_path / name``."""
    command = [sys.executable, str(BOWL_APP), "--multirun", *args, f"hydra.sweep.dir={tmp_path / name}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # custom_search_space=tests.apps.bowl.spaces.NAME
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, **popen)


def storage(sweep_dir: Path) -> str:
    return f"sqlite:///{sweep_dir / 'optuna.db'}"


def load(sweep_dir: Path, study_name: str = "sts_lab", url: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=study_name, storage=url or storage(sweep_dir))


def job_overrides(sweep_dir: Path) -> dict[str, list[str]]:
    return {path.parent.parent.name: OmegaConf.to_container(OmegaConf.load(path))
            for path in sweep_dir.glob("*/.hydra/overrides.yaml")}


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(path for path in sweep_dir.glob("*") if path.is_dir() and path.name.isdigit())


def studies_in(url: str) -> dict[str, int]:
    """Every study of a storage and its trial count."""
    return {summary.study_name: summary.n_trials for summary in optuna.study.get_all_study_summaries(url)}

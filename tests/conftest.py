"""Fast tests are offline by construction: no hub, no W&B server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    WANDB_MODE="offline",
    WANDB_SILENT="true",
    TOKENIZERS_PARALLELISM="false",
)

pytest_plugins = ["tests.postgres"]  # the postgres_server and postgres_url fixtures

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
# The original STS Benchmark files live outside the repository (never copied into it).
STSB_DIR = Path(os.environ.get("STS_LAB_STSB_DIR", REPO.parent / "shared" / "data" / "stsb"))
# A fast training setup shared by tests: the random tiny BERT on the packaged sample data.
TINY = ["model=tiny", "data=sample", "trainer.max_steps=4", "trainer.eval_steps=2", "optimizer.lr=1e-3"]


def compose_config(*overrides: str) -> DictConfig:
    """The job config ``python -m sts_lab OVERRIDES`` would run (without the hydra node)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` (real models, full data) and ``gpu`` tests run only when ``-m`` names them, so ``pytest -m "not e2e"``
    stays the fast in-process loop and ``pytest`` everything else."""
    expression = config.getoption("markexpr") or ""
    kept, dropped = [], []
    for item in items:
        hidden = [marker for marker in ("slow", "gpu") if marker in item.keywords and marker not in expression]
        (dropped if hidden else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def tiny_cfg() -> DictConfig:
    return compose_config(*TINY)


@pytest.fixture
def stsb_dir() -> Path:
    if not (STSB_DIR / "sts-train.csv").is_file():
        pytest.skip(f"original STS Benchmark files not found at {STSB_DIR} (set STS_LAB_STSB_DIR)")
    return STSB_DIR


"""``python -m sts_lab [group=option ...] [key=value ...]``: one run, or a grid with ``--multirun``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from sts_lab.job import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Train, then return the objective (dev Spearman by default; never test) for sweepers to optimise."""
    return run_job(cfg)[cfg.objective]


if __name__ == "__main__":
    main()

"""``python -m sts_lab [group=option ...] [key=value ...]``: one run, or a grid with ``--multirun``."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sts_lab.train import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Train, then return the objective (dev Spearman by default; never test) for sweepers to optimise."""
    metrics = train(cfg, Path(HydraConfig.get().runtime.output_dir))
    return metrics[cfg.objective]


if __name__ == "__main__":
    main()

"""What a job writes into its output directory, named once. Light on imports: the report reads these too."""

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

METRICS_FILE = "metrics.json"  # written last, only by a finished run: METRIC_NAMES' values and "precision"
FAILURE_FILE = "failure.json"  # written instead by a failed run: {"error": type, "message": text}
PRUNED_FILE = "pruned.json"  # written instead by a search trial its pruner stopped: {"step": n, "message": text}
DEV_CURVE_FILE = "dev_curve.csv"  # step, epoch, dev_spearman, dev_pearson at every evaluation (also when stopped)
TEST_PREDICTIONS_FILE = "test_predictions.csv"  # gold, cosine for every test pair, in data order
OVERRIDES_FILE = ".hydra/overrides.yaml"  # Hydra's record of the job's command-line overrides

METRIC_NAMES = (
    "zero_shot_test_spearman", "dev_spearman", "dev_pearson", "best_dev_spearman", "test_spearman",
    "test_pearson", "train_loss", "train_seconds", "train_samples_per_second", "steps", "parameters",
)


def absolute_sweep_dir(hydra_cfg: DictConfig) -> Path:
    """A multirun's sweep dir, absolute. A relative one is relative to the launch directory, which differs from
    the cwd inside a job when hydra.job.chdir is true."""
    return Path(OmegaConf.select(hydra_cfg, "runtime.cwd") or os.getcwd()) / hydra_cfg.sweep.dir

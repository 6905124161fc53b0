"""One Hydra job: train inside its W&B run, record the outcome, and leave the process clean for the next job."""

from __future__ import annotations

import gc
import json
import traceback
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from optuna import TrialPruned

from sts_lab import secrets
from sts_lab.devices import take_one_gpu
from sts_lab.outputs import FAILURE_FILE, PRUNED_FILE, TEST_PREDICTIONS_FILE, absolute_sweep_dir
from sts_lab.storage import search_group
from sts_lab.sweep_cache import CACHE_DIR
from sts_lab.tracking import Tracker
from sts_lab.train import train
from sts_lab.trial import trial_callbacks
from sts_lab.validation import validate


def sweep_group(sweep_dir: str) -> str:
    """W&B group of a sweep: its directory's last two parts, ``multirun/2026-11-29/10-30-00`` -> ``2026-11-29_10-30-00``."""
    return "_".join(Path(sweep_dir).parts[-2:])


def wandb_group(cfg: DictConfig) -> str | None:
    """``logger.group``, else the study of a search (its base name: a grid's studies share it), else the sweep
    of a multirun job; None for a single run."""
    if cfg.get("logger") and cfg.logger.get("group"):
        return cfg.logger.group
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return search_group(hydra_cfg.sweeper) or sweep_group(hydra_cfg.sweep.dir)


def sweep_cache_dir() -> Path | None:
    """Where the jobs of a multirun share what they all compute alike (``sweep_cache``); None for a single run."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return absolute_sweep_dir(hydra_cfg) / CACHE_DIR


def run_job(cfg: DictConfig) -> dict[str, float]:
    """Train ``cfg`` in the current Hydra job; returns its metrics.

    The W&B run is always finished (marked failed when the job fails), a failed job leaves ``failure.json``
    and a pruned search trial ``pruned.json`` instead of ``metrics.json``, and the job's model, trainer and GPU
    memory are released before returning.
    """
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    # A storage URL typed out in full reaches Hydra's saved config; mask it there before anything else runs.
    secrets.install()
    secrets.scrub_hydra_files(output_dir)
    if cfg.trainer.get("one_gpu_per_job"):
        take_one_gpu()  # before anything starts CUDA in this process
    validate(cfg)  # before the W&B run starts: a config typo is refused, not logged as a failed run
    tracker = Tracker.start(
        cfg, output_dir, name=hydra_cfg.job.override_dirname or None, group=wandb_group(cfg),
        choices=dict(hydra_cfg.runtime.choices),
    )
    try:
        with trial_callbacks(cfg) as search_callbacks:
            metrics = train(cfg, output_dir, callbacks=[*tracker.callbacks, *search_callbacks], cache_dir=sweep_cache_dir())
        tracker.log_results(metrics, [output_dir / TEST_PREDICTIONS_FILE])
    except TrialPruned as pruned:  # not a failure: the sweeper records the trial as PRUNED
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / PRUNED_FILE).write_text(json.dumps({"message": str(pruned)}) + "\n")
        tracker.finish(state="pruned")
        traceback.clear_frames(pruned.__traceback__)
        raise
    except BaseException as error:  # KeyboardInterrupt too: the W&B run and the sweep report say failed
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / FAILURE_FILE).write_text(json.dumps({"error": type(error).__name__, "message": str(error)}) + "\n")
        tracker.finish(state="failed")
        # Hydra keeps the exception of a failed job; its frames would keep the model and trainer alive.
        traceback.clear_frames(error.__traceback__)
        raise
    finally:
        release_memory()
    tracker.finish(state="finished")
    return metrics


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

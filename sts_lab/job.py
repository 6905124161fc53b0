"""One Hydra job: train inside its W&B run, record the outcome, and leave the process clean for the next job."""

from __future__ import annotations

import gc
import json
import traceback
from functools import partial
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from optuna import TrialPruned

from sts_lab import secrets
from sts_lab.names import CACHE_DIR, FAILURE_FILE, PRUNED_FILE, TEST_PREDICTIONS_FILE, absolute_sweep_dir, wandb_group
from sts_lab.run.devices import take_one_gpu
from sts_lab.run.train import NumberCache, no_cache, prepare, train
from sts_lab.search.sweep_cache import cached_number
from sts_lab.search.trial import trial_callbacks
from sts_lab.tracking.wandb_run import Tracker


def job_group(cfg: DictConfig) -> str | None:
    """The W&B group of this job (``names.wandb_group``): the sweep's or search's, None for a single run."""
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    return wandb_group(OmegaConf.select(cfg, "logger.group"), hydra_cfg.sweeper, hydra_cfg.sweep.dir if multirun else None)


def sweep_cache() -> NumberCache:
    """What the jobs of a multirun share, computed by the first that needs it (``sweep_cache``); a single run
    computes everything itself."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return no_cache
    return partial(cached_number, absolute_sweep_dir(hydra_cfg) / CACHE_DIR)


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
    precision = prepare(cfg)  # before the W&B run starts: a config typo is refused, not logged as a failed run
    tracker = Tracker.start(
        cfg, output_dir, name=hydra_cfg.job.override_dirname or None, group=job_group(cfg),
        choices=dict(hydra_cfg.runtime.choices), precision=precision.name,
    )
    try:
        with trial_callbacks(cfg) as search_callbacks:
            metrics = train(cfg, output_dir, callbacks=[*tracker.callbacks, *search_callbacks], precision=precision,
                            cached=sweep_cache())
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

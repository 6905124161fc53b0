"""The W&B run of a job (``logger`` config group): one W&B run per job, one W&B group per sweep.

Our own small TrainerCallback rather than transformers' ``report_to="wandb"``: that integration writes the
trainer's flat arguments (``seed``, ``learning_rate``, ...) into the run config over our nested Hydra config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from transformers import TrainerCallback

from sts_lab.errors import first_line
from sts_lab.names import HISTORY_KEYS, STEP_KEY
from sts_lab.tracking.mode import choose_mode

log = logging.getLogger(__name__)

_offline_announced = False


def run_config(cfg: DictConfig, choices: dict[str, str], precision: str) -> dict[str, Any]:
    """The resolved config as a nested dict; every group node also names its option (``loss.name=cosent``),
    and ``trainer.precision_used`` says what ``trainer.precision`` (e.g. auto) became on this machine."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for group, option in choices.items():
        if isinstance(config.get(group), dict):
            config[group] = {"name": option, **config[group]}
    config["trainer"]["precision_used"] = precision
    return config


class WandbCallback(TrainerCallback):
    """Streams the trainer's logs (train loss, learning rate, dev Spearman/Pearson) into a W&B run."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        values = {HISTORY_KEYS[key]: value for key, value in (logs or {}).items() if key in HISTORY_KEYS}
        if values:
            self.run.log({STEP_KEY: state.global_step, **values})


class Tracker:
    """One job's W&B run: started by ``start``, always ended by ``finish`` (as failed when the job failed)."""

    def __init__(self, run: Any | None) -> None:
        self.run = run
        self.callbacks = [WandbCallback(run)] if run is not None else []

    @classmethod
    def start(cls, cfg: DictConfig, output_dir: Path, name: str | None, group: str | None,
              choices: dict[str, str], precision: str) -> Tracker:
        """``precision``: what the job trains in (``trainer.precision`` as chosen on this machine)."""
        logger = cfg.get("logger")
        if not logger:  # logger=none
            return cls(None)
        import wandb

        mode = choose_mode(logger.mode)
        arguments = dict(
            project=logger.project, entity=logger.entity, tags=list(logger.tags), notes=logger.notes,
            name=name, group=group, job_type=choices.get("loss"), config=run_config(cfg, choices, precision),
            dir=str(output_dir), settings=wandb.Settings(init_timeout=logger.init_timeout, quiet=True),
        )
        try:
            run = wandb.init(mode=mode, **arguments)
        except Exception as error:  # network errors, timeouts, auth: W&B must never stop training
            if mode != "online":
                raise
            log.warning("W&B init failed (%s); logging this run offline instead", first_line(error))
            mode, run = "offline", wandb.init(mode="offline", **arguments)
        if mode == "offline":
            announce_offline(output_dir, group is not None)
        run.define_metric(STEP_KEY)
        run.define_metric("*", step_metric=STEP_KEY)
        run.define_metric("dev/spearman", summary="max")
        return cls(run)

    def log_results(self, metrics: dict[str, float], files: list[Path]) -> None:
        if self.run is None:
            return
        self.run.summary.update(metrics)
        for path in files:
            self.run.save(str(path), base_path=str(path.parent), policy="now")

    def finish(self, state: str) -> None:
        """End the run as ``finished``, ``failed`` (exit code 1) or ``pruned`` (a search trial its pruner
        stopped: exit code 0, tagged ``pruned``, summary ``state``)."""
        if self.run is None:
            return
        if state == "pruned":
            self.run.tags = (*self.run.tags, "pruned")
        self.run.summary["state"] = state
        self.run.finish(exit_code=1 if state == "failed" else 0)
        self.run = None


def announce_offline(output_dir: Path, in_sweep: bool) -> None:
    global _offline_announced
    if _offline_announced:
        return
    _offline_announced = True
    pattern = output_dir.parent / "*" if in_sweep else output_dir
    log.info("W&B is logging offline; upload later with: wandb sync %s/wandb/offline-run-*", pattern)

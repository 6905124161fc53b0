"""The Hydra callback that rewrites a sweep's report in its directory after every job."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sts_lab.names import absolute_sweep_dir
from sts_lab.report.render import write_report
from sts_lab.report.sweep_results import load_sweep

log = logging.getLogger(__name__)


class SweepReport(Callback):
    """Rewrites the report in the sweep directory after every job of a multirun, so an interrupted sweep has one.

    Register under ``hydra.callbacks`` with ``_target_: sts_lab.report.SweepReport``. A report error is
    logged, never raised: it must not stop the sweep.
    """

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.report(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.report(config)
        if OmegaConf.select(config, "logger.view"):
            try:
                from sts_lab.report.wandb_publish import at_sweep_end  # here: only a sweep that asks for a view pays for it

                at_sweep_end(config, self.sweep_dir(config))
            except Exception:
                log.warning("Could not make the W&B view and report", exc_info=True)

    @staticmethod
    def sweep_dir(config: DictConfig) -> Path:
        return absolute_sweep_dir(config.hydra)

    def __init__(self) -> None:
        self.jobs: dict = {}  # what was read of each job dir, so each rebuild reads only what changed

    def report(self, config: DictConfig) -> None:
        if OmegaConf.select(config, "hydra.mode") not in (RunMode.MULTIRUN, RunMode.MULTIRUN.name):
            return
        try:
            self.rebuild(self.sweep_dir(config))
        except Exception:
            log.warning("Could not write the sweep report", exc_info=True)

    def rebuild(self, sweep_dir: Path) -> None:
        write_report(load_sweep(sweep_dir, self.jobs), sweep_dir)

"""Compare the jobs of a sweep: per-job table, mean ± sd over seeds, paired bootstrap, figure.

Reads a Hydra multirun directory (``python -m sts_lab --multirun ...``) or a W&B run group, so a sweep can
be compared while it runs, after it was interrupted, or with some jobs failed::

    python -m sts_lab.report multirun/2025-01-01/12-00-00
    python -m sts_lab.report --wandb ENTITY/PROJECT --group G

``SweepReport`` is the Hydra callback that rewrites the report in the sweep directory after every job.
The work is split by purpose: ``sweep_results`` and ``study_results`` read, ``statistics`` computes,
``render`` writes tables and plots.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sts_lab.errors import StsLabError
from sts_lab.render import write_report
from sts_lab.sweep_results import load_sweep, load_wandb

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

    def report(self, config: DictConfig) -> None:
        if OmegaConf.select(config, "hydra.mode") not in (RunMode.MULTIRUN, RunMode.MULTIRUN.name):
            return
        try:
            # A relative sweep dir is relative to the launch directory, which differs from the cwd inside a
            # job when hydra.job.chdir is true.
            sweep_dir = Path(OmegaConf.select(config, "hydra.runtime.cwd") or os.getcwd()) / config.hydra.sweep.dir
            write_report(load_sweep(sweep_dir), sweep_dir)
        except Exception:
            log.warning("Could not write the sweep report", exc_info=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sts_lab.report``: write the report files and print the markdown summary."""
    parser = argparse.ArgumentParser(prog="python -m sts_lab.report", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", nargs="?", type=Path, help="a Hydra multirun directory (multirun/DATE/TIME)")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read the runs of a W&B project instead")
    parser.add_argument("--group", help="the W&B run group of the sweep (with --wandb)")
    parser.add_argument("--out", type=Path, help="report directory (default: SWEEP_DIR, or ./report-GROUP)")
    args = parser.parse_args(argv)
    if (args.sweep_dir is None) == (args.wandb is None):
        parser.error("give either a sweep directory or --wandb ENTITY/PROJECT")
    if args.wandb and not args.group:
        parser.error("--wandb needs --group")
    try:
        if args.wandb:
            results, out_dir = load_wandb(args.wandb, args.group), args.out or Path(f"report-{args.group}")
        else:
            results, out_dir = load_sweep(args.sweep_dir), args.out or args.sweep_dir
    except StsLabError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    markdown_path = write_report(results, out_dir)[1]
    print(markdown_path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sts_lab.errors import StsLabError
from sts_lab.outputs import absolute_sweep_dir
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
        if OmegaConf.select(config, "logger.view"):
            try:
                from sts_lab.wandb_publish import at_sweep_end  # here: only a sweep that asks for a view pays for it

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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sts_lab.report``: write the report files and print the markdown summary."""
    parser = argparse.ArgumentParser(prog="python -m sts_lab.report", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", nargs="?", type=Path, help="a Hydra multirun directory (multirun/DATE/TIME)")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read the runs from W&B; --view/--publish save there")
    parser.add_argument("--group", help="the W&B run group of the sweep (with --wandb)")
    parser.add_argument("--out", type=Path, help="report directory (default: SWEEP_DIR, or ./report-GROUP)")
    parser.add_argument("--view", action="store_true", help="save a W&B workspace view of the sweep in --wandb")
    parser.add_argument("--publish", action="store_true", help="publish a W&B Report of the sweep in --wandb")
    parser.add_argument("--group-by", metavar="KEY", help="config key the view groups runs by (default: loss)")
    parser.add_argument("--searched", nargs="+", default=[], metavar="KEY", help="searched keys: adds a Search section")
    args = parser.parse_args(argv)
    to_wandb = args.view or args.publish
    if (args.sweep_dir is None and args.wandb is None) or (args.sweep_dir is not None and args.wandb and not to_wandb):
        parser.error("give either a sweep directory or --wandb ENTITY/PROJECT (both only with --view or --publish)")
    if to_wandb and not args.wandb:
        parser.error("--view and --publish need --wandb ENTITY/PROJECT")
    if args.wandb and not args.group and args.sweep_dir is None:
        parser.error("--wandb needs --group")
    if (args.group_by or args.searched) and not to_wandb:
        parser.error("--group-by and --searched go with --view or --publish")
    try:
        if to_wandb:
            from sts_lab.wandb_publish import cli  # here: wandb-workspaces is imported only when asked for

            kinds = [kind for kind, wanted in (("view", args.view), ("report", args.publish)) if wanted]
            return cli(args.wandb, args.group, args.sweep_dir, args.out, kinds, args.group_by, args.searched)
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

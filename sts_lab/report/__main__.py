"""Compare the jobs of a sweep: per-job table, mean ± sd over seeds, paired bootstrap, figure.

Reads a Hydra multirun directory (``python -m sts_lab --multirun ...``) or a W&B run group, so a sweep can
be compared while it runs, after it was interrupted, or with some jobs failed::

    python -m sts_lab.report multirun/2025-01-01/12-00-00
    python -m sts_lab.report --wandb ENTITY/PROJECT --group G
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sts_lab.errors import StsLabError
from sts_lab.report.render import write_report
from sts_lab.report.sweep_results import load_sweep, load_wandb


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
            from sts_lab.report.wandb_publish import cli  # here: wandb-workspaces is imported only when asked for

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

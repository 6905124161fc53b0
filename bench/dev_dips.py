"""Where does dev Spearman dip, and when is it back? The evidence for a pruner's (and early stopping's) warm-up.

The rank losses (CoSENT, AnglE) first pull dev Spearman below its first evaluations and recover later; a median
pruner or an early-stopping patience that counts in that stretch stops them for it. For every run dir under the
given dirs (a ``dev_curve.csv`` with the job's ``.hydra/``), this prints the first evaluation, the lowest point after
it (a dip when it is below the first), the first step from that low where dev is back at the first evaluation's
level ("back at"), and the best, with the run's loss, learning rate, warmup and epochs; then per loss the runs that
dipped, the latest "back at" step and the runs never back:

    python bench/dev_dips.py multirun/search/stsb-minilm-e234 /tmp/runs/quality   # any run or sweep dirs
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from sts_lab.names import DEV_CURVE_FILE, JOB_CONFIG_FILE
from sts_lab.report.render import markdown_table


def run_dirs(roots: list[Path]) -> list[Path]:
    found = {os.path.realpath(curve.parent) for root in roots for curve in root.rglob(DEV_CURVE_FILE)}
    return sorted(Path(found_dir) for found_dir in found if (Path(found_dir) / JOB_CONFIG_FILE).is_file())


def dip(curve: pd.DataFrame) -> dict:
    first = curve.iloc[0]
    low = curve.iloc[curve.dev_spearman.iloc[1:].idxmin()] if len(curve) > 1 else first
    depth = first.dev_spearman - low.dev_spearman
    back = curve[(curve.step >= low.step) & (curve.dev_spearman >= first.dev_spearman)]
    best = curve.iloc[curve.dev_spearman.idxmax()]
    return {
        "first": f"{first.dev_spearman:.4f} @{first.step:.0f}",
        "lowest after": f"{low.dev_spearman:.4f} @{low.step:.0f}",
        "dip": round(max(depth, 0.0), 4),
        "back at": int(back.step.iloc[0]) if depth > 0 and len(back) else None,
        "never back": depth > 0 and back.empty,
        "best": f"{best.dev_spearman:.4f} @{best.step:.0f}",
        "last step": int(curve.step.iloc[-1]),
    }


def describe(run_dir: Path) -> dict:
    cfg = OmegaConf.load(run_dir / JOB_CONFIG_FILE)
    choices = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.runtime.choices
    curve = pd.read_csv(run_dir / DEV_CURVE_FILE)
    return {
        "run": str(run_dir), "loss": choices.loss, "lr": f"{cfg.optimizer.lr:.2g}",
        "warmup": round(cfg.optimizer.warmup_ratio, 3), "epochs": cfg.trainer.epochs,
        "scale": None if cfg.loss.get("scale") is None else round(cfg.loss.scale, 1),
        "eval every": str(cfg.trainer.eval_steps), **dip(curve),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", type=Path, nargs="+", help="run dirs or dirs holding them (searched recursively)")
    args = parser.parse_args()
    runs = pd.DataFrame([describe(run_dir) for run_dir in run_dirs(args.dirs)])
    if runs.empty:
        raise SystemExit(f"no run dir with dev_curve.csv and .hydra/ under {', '.join(map(str, args.dirs))}")
    runs = runs.astype({"back at": "Int64"}).sort_values(["loss", "back at"], na_position="first")
    print(markdown_table(runs.drop(columns="run")), "\n")
    by_loss = runs.groupby("loss")
    summary = pd.DataFrame({"runs": by_loss.size(), "dipped": by_loss.dip.apply(lambda dips: int((dips > 0).sum())),
                            "latest back at": by_loss["back at"].max().astype("Int64"),
                            "never back": by_loss["never back"].sum()})
    print(markdown_table(summary.reset_index()))


if __name__ == "__main__":
    main()

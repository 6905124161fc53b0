"""Benchmark: the same Optuna search with and without pruning; prints total training steps, wall time and the
best dev Spearman of each (target: the pruned search within 0.002 of the unpruned best, with <= 0.6x the steps).

    python bench/pruning.py                      # model=tiny on the packaged sample set, 16 trials each
    python bench/pruning.py --minilm --data ../shared/data/stsb --limit 600   # MiniLM on an STSb subset
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run_search(args: argparse.Namespace, pruner: str, sweep_dir: Path) -> dict:
    model = ["model=minilm", "data=stsb", f"data.path={args.data}", f"data.limit={args.limit}"] if args.minilm else \
        ["model=tiny", "data=sample"]
    command = [
        sys.executable, "-m", "sts_lab", "--multirun", "hydra/sweeper=optuna", f"hydra/sweeper/pruner={pruner}",
        *model, "logger=none", f"trainer.max_steps={args.steps}", f"trainer.eval_steps={args.eval_steps}",
        f"hydra.sweeper.n_trials={args.trials}", "hydra.sweeper.n_jobs=1", f"hydra.sweeper.sampler.seed={args.seed}",
        "hydra.sweeper.sampler.n_startup_trials=4", "optimizer.lr=tag(log, interval(1e-5, 1e-2))",
        "optimizer.warmup_ratio=interval(0.0, 0.3)", f"hydra.sweep.dir={sweep_dir}",
    ]
    if pruner in ("median", "percentile"):
        command += [f"hydra.sweeper.pruner.n_startup_trials={args.pruner_startup}",
                    f"hydra.sweeper.pruner.n_warmup_steps={args.eval_steps}"]
    elif pruner in ("successive_halving", "hyperband"):
        command += [f"hydra.sweeper.pruner.min_resource={args.eval_steps}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials = pd.read_csv(sweep_dir / "trials.csv")
    return {"pruner": pruner, "trials": len(trials), "pruned": int((trials.state == "PRUNED").sum()),
            "steps": int(trials.steps.sum()), "wall_s": time.perf_counter() - started,
            "best_dev": trials.value[trials.state == "COMPLETE"].max()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm", action="store_true", help="all-MiniLM-L6-v2 on an STSb subset instead of model=tiny")
    parser.add_argument("--data", type=Path, help="directory of the original STS Benchmark files (with --minilm)")
    parser.add_argument("--limit", type=int, default=600, help="pairs per split (with --minilm)")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=60, help="training steps per trial")
    parser.add_argument("--eval-steps", type=int, default=10, help="steps between evaluations (pruning points)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruner", default="median", help="hydra/sweeper/pruner option to compare with none")
    parser.add_argument("--pruner-startup", type=int, default=4, help="median/percentile: trials never pruned")
    args = parser.parse_args()
    if args.data:
        args.data = args.data.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_search(args, pruner, Path(tmp) / pruner) for pruner in ("none", args.pruner)]
    table = pd.DataFrame(rows).set_index("pruner")
    print(table.to_string(float_format=lambda value: f"{value:.4f}"))
    none, pruned = table.loc["none"], table.loc[args.pruner]
    print(f"steps ratio {args.pruner}/none  {pruned.steps / none.steps:.2f}  (target <= 0.6)")
    print(f"best dev difference      {pruned.best_dev - none.best_dev:+.4f}  (target >= -0.002)")


if __name__ == "__main__":
    main()

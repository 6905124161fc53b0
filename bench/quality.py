"""Quality of length-grouped batches: random against trainer.batch_sampler=length, both losses, 3 seeds.

``run`` trains all-MiniLM-L6-v2 (the packaged weights) for the full recipe (4 epochs on STSb train, batch 16) as
one multirun, one job at a time: seeds 1, 2, 3 x CoSENT and the cosine loss x random and length batches, in that
order, so that each length job follows its random twin (a partial run still gives pairs to compare).
``table`` reads the job dirs back and prints mean +- sd of dev and test Spearman per loss and sampler, and the
length - random difference of the mean test Spearman against the issue's rule (|difference| <= 0.003):

    python bench/quality.py run --data ../shared/data/stsb --out /tmp/bench_runs/quality   # ~2.5-3 h on 2 cores
    python bench/quality.py table /tmp/bench_runs/quality [MORE_SWEEP_DIRS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml
from shapes import packaged_minilm

SEEDS, LOSSES, SAMPLERS = (1, 2, 3), ("cosent", "cosine"), ("random", "length")
RULE = 0.003  # the bound on |mean test difference| for length to become the default


def run(args: argparse.Namespace) -> None:
    overrides = [
        f"seed={','.join(map(str, args.seeds))}", f"loss={','.join(args.losses)}",
        f"trainer.batch_sampler={','.join(args.samplers)}",
        "model=minilm", f"model.name_or_path={packaged_minilm()}", f"data.path={args.data.resolve()}",
        f"trainer.precision={args.precision}", "logger=none", f"hydra.sweep.dir={args.out.resolve()}",
    ]
    # Hydra's grid varies the last key fastest: seed 1 cosent random, seed 1 cosent length, seed 1 cosine ...
    # One thread by default: on a machine shared with other work, torch's two threads wait on each other at every
    # operation whenever one is descheduled (~20x slower steps were seen here); one thread degrades gracefully.
    subprocess.run([sys.executable, "-m", "sts_lab", "--multirun", *overrides], check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)})


def read_jobs(sweep_dir: Path) -> list[dict]:
    """One row per finished job: its loss, sampler, seed and metrics.json."""
    rows = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json")):
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((metrics_file.parent / ".hydra/overrides.yaml").read_text()))
        rows.append({"loss": overrides["loss"], "sampler": overrides.get("trainer.batch_sampler", "random"),
                     "seed": int(overrides["seed"]), **json.loads(metrics_file.read_text())})
    return rows


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def table(args: argparse.Namespace) -> None:
    rows = [row for sweep_dir in args.sweep_dirs for row in read_jobs(sweep_dir)]
    # No time column: these runs shared the machine with other work (bench/speed.py measures speed).
    print("| loss | batches | n | seeds | dev Spearman | test Spearman |")
    print("|---|---|---|---|---|---|")
    for loss in LOSSES:
        for sampler in SAMPLERS:
            jobs = [r for r in rows if r["loss"] == loss and r["sampler"] == sampler]
            if jobs:
                print(f"| {loss} | {sampler} | {len(jobs)} | {','.join(str(r['seed']) for r in jobs)} | "
                      f"{mean_sd([r['dev_spearman'] for r in jobs])} | {mean_sd([r['test_spearman'] for r in jobs])} |")
    print()
    for loss in LOSSES:
        # Only seeds finished with both samplers are compared: a paired difference.
        by = {(r["sampler"], r["seed"]): r for r in rows if r["loss"] == loss}
        seeds = sorted(s for s in SEEDS if ("random", s) in by and ("length", s) in by)
        if not seeds:
            continue
        diff = {key: statistics.mean(by["length", s][key] - by["random", s][key] for s in seeds)
                for key in ("dev_spearman", "test_spearman")}
        verdict = "within" if abs(diff["test_spearman"]) <= RULE else "outside"
        print(f"{loss}: length - random over seeds {seeds}: dev {diff['dev_spearman']:+.4f}, "
              f"test {diff['test_spearman']:+.4f} ({verdict} ±{RULE})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="train the 12 jobs (one multirun)")
    start.add_argument("--data", type=Path, required=True, help="directory of the original STS Benchmark files")
    start.add_argument("--out", type=Path, required=True, help="the multirun's sweep dir")
    start.add_argument("--precision", default="auto", help="trainer.precision (auto: bf16 autocast on a CPU with AVX512-BF16)")
    start.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                       help="a subset, e.g. for a second worker with its own --out (table reads several dirs)")
    start.add_argument("--losses", nargs="+", default=list(LOSSES), help="a subset, as --seeds")
    start.add_argument("--samplers", nargs="+", default=list(SAMPLERS), help="a subset, as --seeds")
    start.add_argument("--threads", type=int, default=1, help="torch threads (OMP_NUM_THREADS) of the jobs")
    show = commands.add_parser("table", help="print the mean +- sd table from the job dirs")
    show.add_argument("sweep_dirs", type=Path, nargs="+")
    args = parser.parse_args()
    (run if args.command == "run" else table)(args)


if __name__ == "__main__":
    main()

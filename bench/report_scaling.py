"""Benchmark: the sweep report on a synthetic sweep dir of N jobs, as the Hydra callback rebuilds it.

Writes N job dirs (metrics.json, dev_curve.csv, test_predictions.csv of 1379 pairs, .hydra/overrides.yaml; 3 losses
x seeds, like a grid), then times: one report from scratch, and the callback after the last of the N jobs (what
every job of a sweep pays; the sum over a sweep is N times about this):

    python bench/report_scaling.py --jobs 500
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def make_sweep(sweep_dir: Path, jobs: int, pairs: int = 1379, evaluations: int = 10) -> None:
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, pairs)
    for number in range(jobs):
        job = sweep_dir / str(number)
        (job / ".hydra").mkdir(parents=True)
        loss, seed = ("cosine", "cosent", "angle")[number % 3], number // 3
        (job / ".hydra" / "overrides.yaml").write_text(f"- loss={loss}\n- seed={seed}\n")
        dev = 0.85 + 0.01 * rng.standard_normal()
        metrics = {"zero_shot_test_spearman": 0.82, "dev_spearman": dev, "dev_pearson": dev, "best_dev_spearman": dev,
                   "test_spearman": dev - 0.03, "test_pearson": dev - 0.03, "train_loss": 0.1, "train_seconds": 60.0,
                   "train_samples_per_second": 40.0, "steps": 1440, "parameters": 22_000_000, "precision": "fp32"}
        (job / "metrics.json").write_text(json.dumps(metrics))
        steps = np.arange(1, evaluations + 1) * 144
        rows = "\n".join(f"{s},{s / 360:.2f},{dev - 0.01 / i:.4f},{dev:.4f}" for i, s in enumerate(steps, 1))
        (job / "dev_curve.csv").write_text("step,epoch,dev_spearman,dev_pearson\n" + rows + "\n")
        predictions = np.clip(gold / 5 + 0.2 * rng.standard_normal(pairs), -1, 1)
        (job / "test_predictions.csv").write_text(
            "gold,cosine\n" + "\n".join(f"{g:.3f},{p:.4f}" for g, p in zip(gold, predictions)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()
    from sts_lab.report import SweepReport
    from sts_lab.report.render import write_report
    from sts_lab.report.sweep_results import load_sweep

    with tempfile.TemporaryDirectory() as tmp:
        sweep_dir = Path(tmp) / "sweep"
        make_sweep(sweep_dir, args.jobs)
        started = time.perf_counter()
        write_report(load_sweep(sweep_dir), sweep_dir)
        scratch = time.perf_counter() - started
        callback = SweepReport()
        for timing in ("first call", "next call"):  # the second reads only what changed since the first
            started = time.perf_counter()
            callback.rebuild(sweep_dir)
            print(f"{args.jobs} jobs: callback {timing} {time.perf_counter() - started:.2f} s")
        print(f"{args.jobs} jobs: report from scratch {scratch:.2f} s")


if __name__ == "__main__":
    main()

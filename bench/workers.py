"""Benchmark: one 12-trial search run by 1, 2 and 4 workers sharing one study on a throwaway PostgreSQL server;
prints wall time, trials per hour, idle time per worker, the best dev Spearman and the workers' memory after
their first and last trials, for each of --repeat rounds (target: 2 workers take <= 0.6x the wall time of 1,
on the medians).

    python bench/workers.py                                       # model=tiny on the packaged sample set
    python bench/workers.py --steps 400                           # longer trials: ~15 s each instead of ~4
    python bench/workers.py --minilm --data ../shared/data/stsb --limit 400   # MiniLM on an STSb subset

Every worker is the same command (``hydra.sweeper.storage='${oc.env:STS_LAB_STORAGE}'``, one study name), started
at the same moment; each gets cores // workers OpenMP threads (at least one). A worker's idle time is its wall
time less the seconds its trials ran (start-up, waiting for the last trials of others, writing results).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import optuna
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.postgres import throwaway_server  # noqa: E402


def run(args: argparse.Namespace, workers: int, url: str, sweep_dir: Path) -> dict:
    model = ["model=minilm", "data=stsb", f"data.path={args.data}", f"data.limit={args.limit}",
             "trainer.epochs=1"] if args.minilm else ["model=tiny", "data=sample", f"trainer.max_steps={args.steps}"]
    command = [
        sys.executable, "-m", "sts_lab", "--multirun", "hydra/sweeper=optuna", *model, "logger=none",
        "trainer.eval_steps=0.25", "hydra.sweeper.storage=${oc.env:STS_LAB_STORAGE}", "hydra.sweeper.study_name=bench",
        f"hydra.sweeper.n_trials={args.trials}", "hydra.sweeper.n_jobs=1", f"hydra.sweeper.sampler.seed={args.seed}",
        "optimizer.lr=tag(log, interval(1e-5, 1e-3))", "optimizer.warmup_ratio=interval(0.0, 0.3)",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    threads = str(args.threads or max(1, (os.cpu_count() or 1) // workers))
    env = {**os.environ, "STS_LAB_STORAGE": url, "OMP_NUM_THREADS": threads, "WANDB_MODE": "offline",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started, started_at = time.perf_counter(), datetime.now()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
    ended: dict[int, float] = {}
    memory: dict[int, list[tuple[float, float]]] = {index: [] for index in range(workers)}  # (seconds, RSS MiB)
    while len(ended) < workers:
        for index, process in enumerate(processes):
            if index not in ended and process.poll() is not None:
                if process.returncode != 0:
                    raise SystemExit(f"a worker failed: {' '.join(command)}")
                ended[index] = time.perf_counter() - started
            elif index not in ended:
                memory[index].append((time.perf_counter() - started, rss_mib(process.pid)))
        time.sleep(0.1)
    walls = [ended[index] for index in range(workers)]
    wall = max(walls)
    study = optuna.load_study(study_name="bench", storage=url)
    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    busy = pd.Series({t.number: (t.datetime_complete - t.datetime_start).total_seconds() for t in finished})
    by_worker = pd.Series({t.number: t.user_attrs["worker"] for t in finished})
    idle = [worker_wall - busy[by_worker.str.endswith(f":{process.pid}")].sum()
            for worker_wall, process in zip(walls, processes)]
    return {"workers": workers, "threads_each": int(threads), "trials": len(finished), "wall_s": wall,
            "trials_per_hour": 3600 * len(finished) / wall, "idle_s_per_worker": sum(idle) / workers,
            "best_dev": study.best_value, **memory_growth(memory, finished, processes, started_at)}


def rss_mib(pid: int) -> float:
    """Resident memory of a worker process (its jobs run in it with Hydra's basic launcher)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)


def memory_growth(memory: dict[int, list[tuple[float, float]]], trials: list, processes: list, started_at: datetime) -> dict:
    """RSS of each worker when its first and its last trial ended (the largest over workers): flat when every
    job releases its model and trainer."""
    def rss_at(index: int, trial) -> float:
        seconds = (trial.datetime_complete - started_at).total_seconds()
        return min(memory[index], key=lambda sample: abs(sample[0] - seconds))[1]

    first, last = [], []
    for index, process in enumerate(processes):
        own = sorted((t for t in trials if t.user_attrs["worker"].endswith(f":{process.pid}")), key=lambda t: t.datetime_complete)
        if own:
            first.append(rss_at(index, own[0]))
            last.append(rss_at(index, own[-1]))
    return {"rss_mib_first_trial": max(first), "rss_mib_last_trial": max(last)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--minilm", action="store_true", help="all-MiniLM-L6-v2 on an STSb subset, 1 epoch a trial")
    parser.add_argument("--data", type=Path, help="directory of the original STS Benchmark files (with --minilm)")
    parser.add_argument("--limit", type=int, default=400, help="pairs per split (with --minilm)")
    parser.add_argument("--steps", type=int, default=60, help="training steps per trial (model=tiny)")
    parser.add_argument("--threads", type=int, help="OpenMP threads per worker (default: cores // workers, at least 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="rounds over --workers (the first round also warms caches)")
    args = parser.parse_args()
    if args.data:
        args.data = args.data.resolve()
    rows = []
    with throwaway_server() as server, tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            for workers in args.workers:
                sweep_dir = Path(tmp) / f"workers-{workers}-{round_}"
                rows.append({"round": round_, **run(args, workers, server.create_database(), sweep_dir)})
                print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    wall = pd.DataFrame(rows).groupby("workers").wall_s.median()
    print("median wall s by workers:", wall.round(1).to_dict())
    if 1 in wall.index and 2 in wall.index:
        print(f"2 workers / 1 worker wall time: {wall[2] / wall[1]:.2f}x (target <= 0.6)")


if __name__ == "__main__":
    main()

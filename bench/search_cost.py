"""What did a search cost, and what would it have cost without pruning, early stopping and length-grouped batches?

Reads the search in SWEEP_DIR (``trials.csv``, each job's ``metrics.json``, the trials' times in the Optuna storage)
and prints: wall time (first trial start to last end, and the time at least one job ran: a search cut and resumed
later counts only its running stretches), jobs, training steps, the pruned share, and three estimates from the
measured seconds per step of each job, said to be estimates:

- without pruning and early stopping: every search trial and rerun runs its ``trainer.epochs`` to the end, at the
  seconds per step its own job measured;
- and without length grouping: that, times the step speed-up of length grouping (``--length-speedup``, MiniLM 1.72
  from ``bench/speed.py``), applied to all of a job's seconds (evaluation and model loading too: an upper bound);
- wall times as the compute over ``--workers``.

    python bench/search_cost.py multirun/search/stsb-minilm-e234 --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import optuna
import pandas as pd
from omegaconf import OmegaConf

from sts_lab.names import METRICS_FILE, MULTIRUN_FILE, TRIALS_FILE, storage_url


def trial_times(sweep_dir: Path, studies: set[str]) -> pd.DataFrame:
    config = OmegaConf.load(sweep_dir / MULTIRUN_FILE)
    url = storage_url(config.hydra.sweeper.storage, sweep_dir.resolve(), config.hydra.runtime.cwd)
    rows = [{"study": name, "number": trial.number, "start": trial.datetime_start, "end": trial.datetime_complete}
            for name in sorted(studies & set(optuna.get_all_study_names(url)))
            for trial in optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
            if trial.datetime_start and trial.datetime_complete]
    return pd.DataFrame(rows)


def busy_seconds(times: pd.DataFrame) -> float:
    """Seconds in which at least one job ran: the union of the trials' [start, end] intervals."""
    total, end = 0.0, None
    for row in times.sort_values("start").itertuples():
        if end is None or row.start > end:
            total += (row.end - row.start).total_seconds()
            end = row.end
        elif row.end > end:
            total += (row.end - end).total_seconds()
            end = row.end
    return total


def schedule(job_dir: Path) -> tuple[float, int | None]:
    """The job's trainer.epochs and trainer.max_steps: the steps it planned, whatever pruning or early stopping did."""
    trainer = OmegaConf.load(job_dir / ".hydra" / "config.yaml").trainer
    return trainer.epochs, trainer.max_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2, help="jobs that ran side by side")
    parser.add_argument("--length-speedup", type=float, default=1.72, help="s/step random / s/step length batches")
    args = parser.parse_args()
    jobs = pd.read_csv(args.sweep_dir / TRIALS_FILE)
    jobs = jobs[jobs.state.isin(["COMPLETE", "PRUNED"]) & jobs.job_dir.notna()].copy()
    stopped = [json.loads((Path(d) / METRICS_FILE).read_text()).get("stopped_at_step")
               if (Path(d) / METRICS_FILE).is_file() else None for d in jobs.job_dir]
    jobs["early_stopped"] = [s is not None for s in stopped]
    jobs["epochs"], jobs["max_steps"] = zip(*(schedule(Path(d)) for d in jobs.job_dir))
    full_runs = jobs[(jobs.state == "COMPLETE") & ~jobs.early_stopped & jobs.max_steps.isna()]
    steps_per_epoch = (full_runs.steps / full_runs.epochs).median()
    jobs["planned"] = jobs.max_steps.fillna(jobs.epochs * steps_per_epoch).round().astype(int)
    jobs["rerun"] = jobs.study.str.contains("-confirm-")
    times = trial_times(args.sweep_dir, set(jobs.study))
    span = (times.end.max() - times.start.min()).total_seconds()
    busy = busy_seconds(times)
    searched = jobs[~jobs.rerun]
    compute = jobs.seconds.sum()
    no_cuts = (jobs.seconds * jobs.planned / jobs.steps).sum()
    no_length = no_cuts * args.length_speedup
    hours = lambda seconds: f"{seconds / 3600:.2f} h"  # noqa: E731
    print(f"jobs: {len(searched)} search trials ({(searched.state == 'PRUNED').sum()} pruned, "
          f"{searched.early_stopped.sum()} stopped early), {jobs.rerun.sum()} reruns")
    print(f"training steps: {jobs.steps.sum()} (trials {searched.steps.sum()}, reruns {jobs[jobs.rerun].steps.sum()}); "
          f"planned {jobs.planned.sum()}; pruned trials' steps {searched[searched.state == 'PRUNED'].steps.sum()}")
    print(f"wall: first start to last end {hours(span)}; at least one job running {hours(busy)}; "
          f"job seconds {hours(compute)} ({hours(compute / args.workers)} over {args.workers} workers)")
    print(f"estimate without pruning and early stopping: {hours(no_cuts)} of jobs, "
          f"{hours(no_cuts / args.workers)} over {args.workers} workers")
    print(f"estimate without pruning, early stopping and length grouping (x{args.length_speedup}): "
          f"{hours(no_length)} of jobs, {hours(no_length / args.workers)} over {args.workers} workers")


if __name__ == "__main__":
    main()

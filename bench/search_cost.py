"""What did a search cost, and what would it have cost without pruning, early stopping and length-grouped batches?

Reads the search in SWEEP_DIR (its trials and confirmation reruns in the Optuna storage, each job's config and
``metrics.json``) and prints: wall time (first trial start to last end, and the time at least one job ran: a
search cut and resumed later counts only its running stretches), jobs, training steps, the pruned share, and three
estimates from the measured seconds per step of each job, said to be estimates:

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
from pathlib import Path

import optuna
import pandas as pd
from omegaconf import OmegaConf

from sts_lab.names import CONFIRM_SUFFIX, JOB_CONFIG_FILE, JOB_DIR_ATTR, METRICS_FILE, SECONDS_ATTR, STEPS_ATTR
from sts_lab.report.studies import search_studies

RERUN_MARK = CONFIRM_SUFFIX + "-"  # NAME-confirm-N


def search_jobs(sweep_dir: Path) -> pd.DataFrame:
    """Every trial that ran a job, of the search's studies and their confirmation studies, from the storage."""
    search = search_studies(sweep_dir)
    if search is None:
        raise SystemExit(f"{sweep_dir}: no Optuna search ran there (its multirun.yaml names no sts_lab search)")
    url, _, studies = search
    names = [name for name in optuna.get_all_study_names(url) if name.split(RERUN_MARK)[0] in studies]
    rows = [{"study": name, "number": trial.number, "state": trial.state.name, "start": trial.datetime_start,
             "end": trial.datetime_complete, "job_dir": trial.user_attrs.get(JOB_DIR_ATTR),
             "seconds": trial.user_attrs.get(SECONDS_ATTR), "steps": trial.user_attrs.get(STEPS_ATTR)}
            for name in names for trial in optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)]
    jobs = pd.DataFrame(rows)
    jobs = jobs[jobs.state.isin(["COMPLETE", "PRUNED"]) & jobs.job_dir.notna()].reset_index(drop=True)
    # Confirmation reruns record no seconds or steps: their trial's span and their metrics.json say it.
    jobs["seconds"] = jobs.seconds.fillna((jobs.end - jobs.start).dt.total_seconds())
    jobs["steps"] = [int(steps) if steps == steps else metrics(job_dir)["steps"]
                     for steps, job_dir in zip(jobs.steps, jobs.job_dir)]
    return jobs


def metrics(job_dir: str) -> dict:
    path = Path(job_dir) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def busy_seconds(jobs: pd.DataFrame) -> float:
    """Seconds in which at least one job ran: the union of the trials' [start, end] intervals."""
    total, end = 0.0, None
    for row in jobs.sort_values("start").itertuples():
        if end is None or row.start > end:
            total += (row.end - row.start).total_seconds()
            end = row.end
        elif row.end > end:
            total += (row.end - end).total_seconds()
            end = row.end
    return total


def schedule(job_dir: Path) -> tuple[float, int | None]:
    """The job's trainer.epochs and trainer.max_steps: the steps it planned, whatever pruning or early stopping did."""
    trainer = OmegaConf.load(job_dir / JOB_CONFIG_FILE).trainer
    return trainer.epochs, trainer.max_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2, help="jobs that ran side by side")
    parser.add_argument("--length-speedup", type=float, default=1.72, help="s/step random / s/step length batches")
    args = parser.parse_args()
    jobs = search_jobs(args.sweep_dir)
    jobs["early_stopped"] = [metrics(job_dir).get("stopped_at_step") is not None for job_dir in jobs.job_dir]
    jobs["epochs"], jobs["max_steps"] = zip(*(schedule(Path(d)) for d in jobs.job_dir))
    full_runs = jobs[(jobs.state == "COMPLETE") & ~jobs.early_stopped & jobs.max_steps.isna()]
    steps_per_epoch = (full_runs.steps / full_runs.epochs).median()
    jobs["planned"] = jobs.max_steps.fillna(jobs.epochs * steps_per_epoch).round().astype(int)
    jobs["rerun"] = jobs.study.str.contains(RERUN_MARK)
    span = (jobs.end.max() - jobs.start.min()).total_seconds()
    busy = busy_seconds(jobs)
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

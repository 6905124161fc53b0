"""The third source of a sweep report, beside the sweep dir and W&B: the Optuna studies of a search.

A search with ``confirm_seeds`` reruns each study's best configuration with new seeds; those reruns are what
the report compares between studies (a best-of-N dev score is biased upward), next to each study's best dev
value and trial counts read from its storage.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from sts_lab.storage import first_line, grid_points, search_group, storage_url
from sts_lab.sweep_results import JOB_METRICS, SEED_KEY, SweepResults, job_row, jobs_table

log = logging.getLogger(__name__)

STUDY_KEY, RERUN_KEY = "search.study", "search.rerun_of"  # overrides the sweeper gives its jobs
STUDY_COLUMNS = ("study", "grid", "complete", "pruned", "failed", "best_dev", "best_trial", "best_params")


def load_studies(sweep_dir: str | Path) -> pd.DataFrame | None:
    """One row per study of the search that ran in ``sweep_dir``; None when no search ran there (or its storage
    cannot be opened: the report then goes on without the studies)."""
    sweep_dir = Path(sweep_dir)
    multirun = sweep_dir / "multirun.yaml"
    config = OmegaConf.load(multirun) if multirun.is_file() else None
    sweeper = OmegaConf.select(config, "hydra.sweeper") if config is not None else None
    base = search_group(sweeper)
    if base is None:
        return None
    import optuna
    from optuna.trial import TrialState

    try:
        url = storage_url(sweeper.storage, sweep_dir.resolve(), OmegaConf.select(config, "hydra.runtime.cwd"))
        # Exactly the studies this search ran (not every study whose name starts alike: stsb vs stsb-minilm).
        names = set(optuna.get_all_study_names(url))
        grid = OmegaConf.to_container(sweeper.grid_params) if sweeper.get("grid_params") else None
        studies = [optuna.load_study(study_name=point.study_name, storage=url)
                   for point in grid_points(grid, base) if point.study_name in names]
    except Exception as error:  # an unreachable database must not cost the rest of the report
        log.warning("Studies of %s not read: %s", sweep_dir, first_line(error))
        return None
    rows = []
    for study in studies:
        states = pd.Series([trial.state for trial in study.get_trials(deepcopy=False)], dtype=object)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = study.best_trial if complete and len(study.directions) == 1 else None
        rows.append({
            "study": study.study_name, "grid": study.study_name.removeprefix(base).lstrip("-") or None,
            "complete": int((states == TrialState.COMPLETE).sum()), "pruned": int((states == TrialState.PRUNED).sum()),
            "failed": int((states == TrialState.FAIL).sum()), "best_dev": best.value if best else None,
            "best_trial": best.number if best else None, "best_params": best.params if best else None,
        })
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))


def rerun_results(results: SweepResults) -> SweepResults | None:
    """The confirmation reruns of each study's current best trial as a sweep of their own, each job's overrides
    reduced to ``study=S,seed=N``, so the statistics compare the studies (their best configurations) as they
    compare the losses of a grid. Reruns of an older best (before a resumed search found a better one) stay out."""
    jobs = results.jobs
    if RERUN_KEY not in jobs or STUDY_KEY not in jobs:
        return None
    reruns = jobs[jobs[RERUN_KEY].notna()]
    if results.studies is not None and not results.studies.empty:
        best = {row.study: row.best_trial for row in results.studies.itertuples() if row.best_trial is not None}
        current = [best.get(study) is not None and int(float(rerun_of)) == int(best[study])
                   for study, rerun_of in zip(reruns[STUDY_KEY], reruns[RERUN_KEY])]
        reruns = reruns[current]
    if reruns.empty:
        return None
    rows = [
        job_row(row.job, [f"study={row[STUDY_KEY]}", f"{SEED_KEY}={int(row[SEED_KEY])}"], row.status,
                metrics={name: row[name] for name in JOB_METRICS} if row.status == "completed" else None, error=row.error)
        for _, row in reruns.iterrows()
    ]
    keep = set(reruns.job)
    return SweepResults(
        jobs_table(rows), curves={job: curve for job, curve in results.curves.items() if job in keep},
        predictions={job: frame for job, frame in results.predictions.items() if job in keep},
        source=f"{results.source} (confirmation reruns)",
    )

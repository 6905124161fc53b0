"""The confirmation reruns of a search as a sweep of their own: what the report compares between its studies
(a best-of-N dev score is biased upward; the reruns train each study's best configuration again)."""

from __future__ import annotations

from sts_lab.names import RERUN_OF_KEY, STUDY_KEY
from sts_lab.report.sweep_results import JOB_METRICS, SEED_KEY, SweepResults, job_row, jobs_table


def rerun_results(results: SweepResults) -> SweepResults | None:
    """The confirmation reruns of each study's current best trial as a sweep of their own, each job's overrides
    reduced to ``study=S,seed=N``, so the statistics compare the studies (their best configurations) as they
    compare the losses of a grid. Reruns of an older best (before a resumed search found a better one) stay out."""
    jobs = results.jobs
    if RERUN_OF_KEY not in jobs or STUDY_KEY not in jobs:
        return None
    reruns = jobs[jobs[RERUN_OF_KEY].notna()]
    if results.studies is not None and not results.studies.empty:
        best = {row.study: row.best_trial for row in results.studies.itertuples() if row.best_trial is not None}
        current = [best.get(study) is not None and int(float(rerun_of)) == int(best[study])
                   for study, rerun_of in zip(reruns[STUDY_KEY], reruns[RERUN_OF_KEY])]
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

"""Statistics over a sweep's completed jobs: mean ± sd over seeds, and paired bootstrap intervals of test
Spearman differences (resampling test pairs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from sts_lab.report.sweep_results import (
    COMPLETED, ENCODER_KEY, PREDICTION, SEED_KEY, SweepResults, config_keys, configuration,
)

# A loss trains one encoder (a cross-encoder loss cannot train a bi-encoder), so runs of different losses may
# differ in encoder too: comparing losses compares across encoders, and the encoder labels the loss.
TIED_KEYS = {"loss": ENCODER_KEY}
AGGREGATE_METRICS = ("zero_shot_test_spearman", "dev_spearman", "test_spearman", "train_seconds")
BOOTSTRAP_STATS = ("n_seeds_a", "n_seeds_b", "diff", "ci_low", "ci_high", "p_a_better")

def completed_jobs(results: SweepResults) -> pd.DataFrame:
    jobs = results.jobs[results.jobs.status == COMPLETED]
    return jobs.assign(configuration=jobs.overrides.map(configuration))


def aggregate(results: SweepResults) -> pd.DataFrame:
    """One row per configuration (overrides without seed) over completed jobs: ``n``, mean and sd (ddof=1)."""
    keys = config_keys(results.jobs)
    stats = [f"{metric}_{stat}" for metric in AGGREGATE_METRICS for stat in ("mean", "sd")]
    jobs = completed_jobs(results)
    if jobs.empty:
        return pd.DataFrame(columns=["configuration", *keys, "n", *stats])
    grouped = jobs.groupby("configuration", sort=False)
    table = grouped[list(AGGREGATE_METRICS)].agg(["mean", "std"])
    table.columns = stats
    table.insert(0, "n", grouped.size())
    return grouped[keys].first().join(table).reset_index() if keys else table.reset_index()


def standardized_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, centred and scaled to unit norm: Spearman = sum of products of two of these."""
    ranks = rankdata(values, axis=-1)
    ranks -= ranks.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant resample has no correlation: NaN
        return ranks / np.linalg.norm(ranks, axis=-1, keepdims=True)


def common_gold(jobs: Iterable[str], predictions: Mapping[str, pd.DataFrame]) -> np.ndarray:
    """The gold scores the jobs share; ValueError when their test sets differ."""
    jobs = list(jobs)
    gold = predictions[jobs[0]]["gold"].to_numpy()
    for job in jobs[1:]:
        if not np.array_equal(predictions[job]["gold"].to_numpy(), gold):
            raise ValueError(f"Jobs {jobs[0]} and {job} were tested on different pairs: their gold scores differ")
    return gold


def resampled_spearman(frame: pd.DataFrame, gold_ranks: np.ndarray, indices: np.ndarray, key: tuple) -> np.ndarray:
    """A job's Spearman on every resample of its test pairs, kept on its predictions frame (``attrs``): the
    sweep report, rebuilt after every job from frames it keeps, then ranks each job's resamples once, not at
    every rebuild (ranking is almost all of a report's time). No library memoises this per frame, hence these lines."""
    memo = frame.attrs.setdefault("resampled_spearman", {})
    if key not in memo:
        memo[key] = (gold_ranks * standardized_ranks(frame[PREDICTION].to_numpy()[indices])).sum(axis=-1)
    return memo[key]


def compare_values(
    group: pd.DataFrame, key: str, predictions: Mapping[str, pd.DataFrame], other_keys: Sequence[str],
    n_resamples: int, seed: int, confidence: float,
) -> list[dict[str, Any]]:
    """Bootstrap rows for every pair of ``key`` values among jobs whose other overrides are equal."""
    gold = common_gold(group.job, predictions)
    indices = np.random.default_rng(seed).integers(0, len(gold), size=(n_resamples, len(gold)))
    gold_ranks = standardized_ranks(gold[indices])
    full, resampled = {}, {}
    for job in group.job:
        full[job] = spearmanr(gold, predictions[job][PREDICTION].to_numpy())[0]
        resampled[job] = resampled_spearman(predictions[job], gold_ranks, indices, (n_resamples, seed))
    runs = {value: list(jobs) for value, jobs in group.groupby(key, sort=False).job}  # value -> its seeds' jobs
    context = {other: group[other].iloc[0] for other in other_keys}
    rows = []
    for a, b in combinations(runs, 2):
        diffs = np.mean([resampled[job] for job in runs[a]], axis=0) - np.mean([resampled[job] for job in runs[b]], axis=0)
        low, high = np.nanquantile(diffs, [(1 - confidence) / 2, (1 + confidence) / 2])
        rows.append({
            "a": a, "b": b, **context, "n_seeds_a": len(runs[a]), "n_seeds_b": len(runs[b]),
            "diff": np.mean([full[job] for job in runs[a]]) - np.mean([full[job] for job in runs[b]]),
            "ci_low": low, "ci_high": high, "p_a_better": float(np.mean(diffs > 0)),
        })
    return rows


def paired_bootstrap(
    results: SweepResults, key: str = "loss", n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
) -> pd.DataFrame:
    """Difference in mean test Spearman over seeds, A minus B, for every two values of ``key``.

    Only configurations equal but for ``key`` and the seed are compared. Test pairs are resampled with
    replacement, the same indices for every job in a resample; the interval is the percentile interval.
    Empty when ``key`` is not swept or takes fewer than two values.
    """
    tied = TIED_KEYS.get(key)
    other_keys = [other for other in config_keys(results.jobs) if other not in (key, tied)]
    columns = ["a", "b", *other_keys, *BOOTSTRAP_STATS]
    jobs = completed_jobs(results)
    if key not in jobs:
        return pd.DataFrame(columns=columns)
    jobs = jobs[jobs.job.isin(results.predictions) & jobs[key].notna()]
    if tied in jobs and jobs[tied].nunique() > 1:  # "bce (cross)" against "cosent (bi)"
        jobs = jobs.assign(**{key: jobs[key].astype(str) + " (" + jobs[tied].astype(str) + ")"})
    drop = (SEED_KEY, key, tied)
    jobs = jobs.assign(context=jobs.overrides.map(lambda overrides: configuration(overrides, drop=drop)))
    rows = [
        row
        for _, group in jobs.groupby("context", sort=False)
        if group[key].nunique() >= 2
        for row in compare_values(group, key, results.predictions, other_keys, n_resamples, seed, confidence)
    ]
    return pd.DataFrame(rows, columns=columns)


def compared_keys(results: SweepResults) -> list[str]:
    """Swept keys other than the seed that take at least two values: the ones to bootstrap."""
    varying = [key for key in config_keys(results.jobs) if results.jobs[key].nunique() >= 2]
    return [key for key in varying if not any(TIED_KEYS.get(other) == key for other in varying)]

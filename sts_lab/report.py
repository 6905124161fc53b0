"""Compare the jobs of a sweep: per-job table, mean ± sd over seeds, paired bootstrap, figure.

Reads a Hydra multirun directory (``python -m sts_lab --multirun ...``) or a W&B run group, so a sweep can
be compared while it runs, after it was interrupted, or with some jobs failed::

    python -m sts_lab.report multirun/2025-01-01/12-00-00
    python -m sts_lab.report --wandb ENTITY/PROJECT --group G

``SweepReport`` is the Hydra callback that rewrites the report in the sweep directory after every job.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from scipy.stats import rankdata, spearmanr

from sts_lab.errors import StsLabError
from sts_lab.outputs import DEV_CURVE_FILE, FAILURE_FILE, METRICS_FILE, OVERRIDES_FILE, TEST_PREDICTIONS_FILE

log = logging.getLogger(__name__)

REPORT_FILES = ("summary.csv", "summary.md", "comparison.png")

COMPLETED, FAILED, INCOMPLETE = STATUSES = ("completed", "failed", "incomplete")
JOB_METRICS = ("zero_shot_test_spearman", "dev_spearman", "best_dev_spearman", "test_spearman", "train_seconds")
AGGREGATE_METRICS = ("zero_shot_test_spearman", "dev_spearman", "test_spearman", "train_seconds")
CURVE_COLUMNS = ("step", "epoch", "dev_spearman", "dev_pearson")
BOOTSTRAP_STATS = ("n_seeds_a", "n_seeds_b", "diff", "ci_low", "ci_high", "p_a_better")
SEED_KEY = "seed"

WANDB_STATUS = {"finished": COMPLETED, "failed": FAILED, "crashed": FAILED}
WANDB_CURVE_KEYS = {"train/global_step": "step", "dev/spearman": "dev_spearman", "dev/pearson": "dev_pearson"}

# A comma separates two overrides only when a key and "=" follow it: "optimizer.betas=[0.9,0.99]" stays whole.
OVERRIDE_SEPARATOR = re.compile(r",(?=[~+]*[\w.@/-]+=)")

MARKDOWN_HEADERS = {
    "zero_shot_test_spearman": "zero-shot test", "dev_spearman": "dev", "best_dev_spearman": "best dev",
    "test_spearman": "test", "train_seconds": "train s",
}


@dataclass
class SweepResults:
    """The jobs of one sweep: a table with one row per job, and the files of the completed ones."""

    jobs: pd.DataFrame
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # job -> step, epoch, dev_spearman, dev_pearson
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # job -> gold, cosine per test pair
    source: str = ""  # sweep directory or W&B group, for titles


# Overrides -------------------------------------------------------------------------------------------------


@cache
def _override_parser() -> OverridesParser:
    return OverridesParser.create()


def split_overrides(text: str) -> list[str]:
    """``"loss=cosent,seed=2"`` -> ``["loss=cosent", "seed=2"]``, keeping commas inside values."""
    return [item for item in OVERRIDE_SEPARATOR.split(text) if item] if text else []


def parse_override(override: str) -> tuple[str, Any]:
    """``"+optimizer.lr=3e-5"`` -> ``("optimizer.lr", 3e-05)``, with Hydra's parser (prefixes dropped, values typed)."""
    parsed = _override_parser().parse_override(override)
    key = parsed.key_or_group + (f"@{parsed.package}" if parsed.package else "")
    value = parsed.value()
    return key, value if isinstance(value, (str, int, float, bool, type(None))) else parsed.get_value_element_as_str()


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    return dict(map(parse_override, overrides))


def configuration(overrides: str, drop: Iterable[str] = (SEED_KEY,)) -> str:
    """A job's overrides without the keys in ``drop`` (the seed): the label that groups repeated runs."""
    drop = set(drop)
    return ",".join(item for item in split_overrides(overrides) if parse_override(item)[0] not in drop)


def override_keys(jobs: pd.DataFrame) -> list[str]:
    """The keys set by the jobs' overrides: the columns between ``overrides`` and ``status``."""
    columns = list(jobs.columns)
    return columns[columns.index("overrides") + 1:columns.index("status")]


def config_keys(jobs: pd.DataFrame) -> list[str]:
    return [key for key in override_keys(jobs) if key != SEED_KEY]


# Loading ---------------------------------------------------------------------------------------------------


def job_row(
    job: str, overrides: Sequence[str], status: str, metrics: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One row of the jobs table; ``metrics`` (completed jobs only) must hold every name in JOB_METRICS."""
    if metrics is not None and (missing := [name for name in JOB_METRICS if name not in metrics]):
        raise StsLabError(f"Job {job}: metrics {missing} missing; available: {sorted(metrics)}")
    return {
        "job": job, "overrides": ",".join(overrides), **parse_overrides(overrides), "status": status,
        **{name: float(metrics[name]) if metrics is not None else np.nan for name in JOB_METRICS},
        "error": error,
    }


def jobs_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows from job_row -> DataFrame with the override keys (in order of appearance) before ``status``."""
    tail = ["status", *JOB_METRICS, "error"]
    table = pd.DataFrame(rows)
    keys = [column for column in table.columns if column not in ("job", "overrides", *tail)]
    return table[["job", "overrides", *keys, *tail]]


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's content, or None while it is absent or still being written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def find_job_dirs(sweep_dir: Path) -> list[Path]:
    """Subdirectories holding a Hydra job (``.hydra/overrides.yaml``), by job number."""
    if not sweep_dir.is_dir():
        raise StsLabError(f"{sweep_dir} is not a directory")
    job_dirs = [path for path in sweep_dir.iterdir() if (path / OVERRIDES_FILE).is_file()]
    if not job_dirs:
        raise StsLabError(f"{sweep_dir} is not a Hydra sweep directory: no job subdirectory with {OVERRIDES_FILE}")
    return sorted(job_dirs, key=lambda path: (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name))


def read_job(job_dir: Path) -> dict[str, Any]:
    """A job's row: completed if it wrote metrics.json, failed if failure.json, else incomplete."""
    overrides = OmegaConf.to_container(OmegaConf.load(job_dir / OVERRIDES_FILE)) or []
    if (metrics := read_json(job_dir / METRICS_FILE)) is not None:
        return job_row(job_dir.name, overrides, COMPLETED, metrics)
    if (failure := read_json(job_dir / FAILURE_FILE)) is not None:
        return job_row(job_dir.name, overrides, FAILED, error=failure.get("message"))
    return job_row(job_dir.name, overrides, INCOMPLETE)


def read_curve(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).reindex(columns=list(CURVE_COLUMNS))


def load_sweep(sweep_dir: str | Path) -> SweepResults:
    """Read a Hydra multirun directory; raises StsLabError when it holds no job."""
    sweep_dir = Path(sweep_dir)
    jobs = jobs_table([read_job(job_dir) for job_dir in find_job_dirs(sweep_dir)])
    results = SweepResults(jobs, source=str(sweep_dir))
    for job in results.jobs.job[results.jobs.status == COMPLETED]:
        if (curve := sweep_dir / job / DEV_CURVE_FILE).is_file():
            results.curves[job] = read_curve(curve)
        if (predictions := sweep_dir / job / TEST_PREDICTIONS_FILE).is_file():
            results.predictions[job] = pd.read_csv(predictions)
    return results


def load_wandb(path: str, group: str, api: Any = None) -> SweepResults:
    """Read the runs of W&B group ``group`` in ``path`` (ENTITY/PROJECT); each run's name is its overrides."""
    if api is None:
        import wandb  # here, not at the top: only this path needs it

        api = wandb.Api()
    rows, results = [], SweepResults(pd.DataFrame(), source=f"{path} group {group}")
    with tempfile.TemporaryDirectory() as download_dir:
        for run in api.runs(path, filters={"group": group}):  # oldest first
            status = WANDB_STATUS.get(run.state, INCOMPLETE)
            completed = status == COMPLETED
            rows.append(job_row(
                run.id, split_overrides(run.name or ""), status, metrics=dict(run.summary) if completed else None,
                error=f"W&B run {run.state}" if status == FAILED else None,
            ))
            if not completed:
                continue
            history = run.history(keys=["dev/spearman", "dev/pearson"], x_axis="train/global_step", pandas=True)
            results.curves[run.id] = history.rename(columns=WANDB_CURVE_KEYS).reindex(columns=list(CURVE_COLUMNS))
            for file in run.files(names=[TEST_PREDICTIONS_FILE]):  # empty when the run has no predictions
                file.download(root=download_dir, replace=True)
                results.predictions[run.id] = pd.read_csv(Path(download_dir) / TEST_PREDICTIONS_FILE)
    if not rows:
        raise StsLabError(f"No W&B runs in {path} with group {group!r}")
    results.jobs = jobs_table(rows)
    return results


# Statistics ------------------------------------------------------------------------------------------------


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
        cosine = predictions[job]["cosine"].to_numpy()
        full[job] = spearmanr(gold, cosine)[0]
        resampled[job] = (gold_ranks * standardized_ranks(cosine[indices])).sum(axis=-1)
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
    other_keys = [other for other in config_keys(results.jobs) if other != key]
    columns = ["a", "b", *other_keys, *BOOTSTRAP_STATS]
    jobs = completed_jobs(results)
    if key not in jobs:
        return pd.DataFrame(columns=columns)
    jobs = jobs[jobs.job.isin(results.predictions) & jobs[key].notna()]
    jobs = jobs.assign(context=jobs.overrides.map(lambda overrides: configuration(overrides, drop=(SEED_KEY, key))))
    rows = [
        row
        for _, group in jobs.groupby("context", sort=False)
        if group[key].nunique() >= 2
        for row in compare_values(group, key, results.predictions, other_keys, n_resamples, seed, confidence)
    ]
    return pd.DataFrame(rows, columns=columns)


def compared_keys(results: SweepResults) -> list[str]:
    """Swept keys other than the seed that take at least two values: the ones to bootstrap."""
    return [key for key in config_keys(results.jobs) if results.jobs[key].nunique() >= 2]


# Report ----------------------------------------------------------------------------------------------------


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub markdown table of the frame's values as strings (tabulate is not a dependency)."""
    def cell(value: Any) -> str:
        if value is None or value is pd.NA or value != value:  # None / NA / NaN
            return ""
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def decimals(metric: str) -> int:
    return 1 if metric == "train_seconds" else 4


def number(value: float, digits: int = 4, sign: bool = False) -> str:
    return "" if pd.isna(value) else f"{value:{'+' if sign else ''}.{digits}f}"


def mean_sd(mean: float, sd: float, digits: int = 4) -> str:
    """``0.8612 ± 0.0021``; the mean alone when there is no sd (one seed)."""
    return number(mean, digits) + ("" if pd.isna(sd) else f" ± {number(sd, digits)}")


def status_line(jobs: pd.DataFrame) -> str:
    counts = jobs.status.value_counts()
    return f"{len(jobs)} jobs: " + ", ".join(f"{counts.get(status, 0)} {status}" for status in STATUSES) + "."


def jobs_markdown(jobs: pd.DataFrame) -> str:
    table = jobs[["job", "overrides", "status"]].copy()
    for metric in JOB_METRICS:
        table[MARKDOWN_HEADERS[metric]] = [number(value, decimals(metric)) for value in jobs[metric]]
    table["error"] = jobs.error
    return markdown_table(table)


def aggregate_markdown(summary: pd.DataFrame, keys: Sequence[str]) -> str:
    table = pd.DataFrame({"configuration": configuration_labels(summary, keys), "n": summary.n})
    for metric in AGGREGATE_METRICS:
        table[MARKDOWN_HEADERS[metric]] = [
            mean_sd(mean, sd, decimals(metric)) for mean, sd in zip(summary[f"{metric}_mean"], summary[f"{metric}_sd"])
        ]
    return markdown_table(table)


def bootstrap_markdown(comparison: pd.DataFrame, key: str) -> str:
    context = [column for column in comparison.columns if column not in ("a", "b", *BOOTSTRAP_STATS)]
    varying = [column for column in context if comparison[column].nunique(dropna=False) > 1]  # constants add nothing
    table = comparison[["a", "b", *varying]].rename(columns={"a": f"{key} A", "b": f"{key} B"})
    table["seeds A/B"] = [f"{a}/{b}" for a, b in zip(comparison.n_seeds_a, comparison.n_seeds_b)]
    table["diff (A − B)"] = comparison["diff"].map(lambda value: number(value, sign=True))
    table["95% CI"] = [
        f"[{number(low, sign=True)}, {number(high, sign=True)}]" for low, high in zip(comparison.ci_low, comparison.ci_high)
    ]
    table["P(A better)"] = comparison.p_a_better.map(lambda value: number(value, 3))
    return markdown_table(table)


def summary_markdown(results: SweepResults, n_resamples: int = 1000, seed: int = 0) -> str:
    """The report as markdown: jobs, mean ± sd over seeds when repeated, bootstrap differences per swept key."""
    sections = [f"# Sweep report: {results.source}", status_line(results.jobs), "## Jobs", jobs_markdown(results.jobs)]
    summary = aggregate(results)
    if (summary.n >= 2).any():
        sections += ["## Mean ± sd over seeds", aggregate_markdown(summary, config_keys(results.jobs))]
    for key in compared_keys(results):
        try:
            comparison = paired_bootstrap(results, key, n_resamples=n_resamples, seed=seed)
        except ValueError as error:  # e.g. a sweep over data.limit: its jobs have different test sets
            sections += [f"## Paired bootstrap: {key}", f"Not compared: {error}."]
            continue
        if not comparison.empty:
            sections += [
                f"## Paired bootstrap: {key}",
                f"Difference in mean test Spearman over seeds, A − B; test pairs resampled {n_resamples} times, "
                "95% percentile interval.",
                bootstrap_markdown(comparison, key),
            ]
    return "\n\n".join(sections) + "\n"


def configuration_labels(summary: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """Short x labels: only the keys that differ between configurations."""
    varying = [key for key in keys if summary[key].nunique(dropna=False) > 1]
    labels = [",".join(f"{key}={row[key]}" for key in varying if pd.notna(row[key])) for _, row in summary.iterrows()]
    return [label or config or "(no overrides)" for label, config in zip(labels, summary.configuration)]


def plot_test_spearman(axes: Axes, results: SweepResults) -> None:
    """Bars: mean test Spearman per configuration, sd error bars; dots: the seeds."""
    summary, jobs = aggregate(results), completed_jobs(results)
    axes.set_title("Test Spearman per configuration (mean ± sd, dots: seeds)")
    if summary.empty:
        axes.text(0.5, 0.5, "no completed jobs", ha="center", va="center", transform=axes.transAxes)
        return
    positions = np.arange(len(summary))
    axes.bar(positions, summary.test_spearman_mean, yerr=summary.test_spearman_sd.fillna(0), capsize=4, alpha=0.5)
    for position, config in zip(positions, summary.configuration):
        seeds = jobs.test_spearman[jobs.configuration == config]
        axes.scatter(np.full(len(seeds), position), seeds, color="black", s=14, zorder=3)
    low = min(jobs.test_spearman.min(), (summary.test_spearman_mean - summary.test_spearman_sd.fillna(0)).min())
    high = max(jobs.test_spearman.max(), (summary.test_spearman_mean + summary.test_spearman_sd.fillna(0)).max())
    margin = max(0.1 * (high - low), 0.01)
    axes.set_ylim(low - margin, high + margin)  # differences between losses are small next to the bar heights
    axes.set_xticks(positions, configuration_labels(summary, config_keys(results.jobs)), rotation=30, ha="right")
    axes.set_ylabel("test Spearman")


def plot_dev_curves(axes: Axes, results: SweepResults) -> None:
    """Dev Spearman against training step, one line per job, one colour per configuration."""
    axes.set_title("Dev Spearman during training")
    jobs = completed_jobs(results).set_index("job")
    colours = {config: f"C{index % 10}" for index, config in enumerate(jobs.configuration.unique())}
    varying = [key for key in override_keys(results.jobs) if results.jobs[key].nunique(dropna=False) > 1]
    for job, curve in results.curves.items():
        if job in jobs.index and not curve.empty:
            label = ",".join(f"{key}={jobs.at[job, key]}" for key in varying) or jobs.overrides[job] or job
            axes.plot(curve.step, curve.dev_spearman, marker=".", color=colours[jobs.configuration[job]], label=label)
    if axes.lines:
        axes.legend(fontsize="x-small")
    else:
        axes.text(0.5, 0.5, "no dev curves", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("step")
    axes.set_ylabel("dev Spearman")


def plot_comparison(results: SweepResults) -> Figure:
    """The report figure: test Spearman per configuration (left), dev curves per job (right)."""
    figure = Figure(figsize=(13, 5), layout="constrained")  # no pyplot: no global state, renders with Agg
    left, right = figure.subplots(1, 2)
    plot_test_spearman(left, results)
    plot_dev_curves(right, results)
    return figure


def write_report(results: SweepResults, out_dir: str | Path) -> list[Path]:
    """Write summary.csv (the jobs table), summary.md and comparison.png into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, markdown_path, figure_path = (out_dir / name for name in REPORT_FILES)
    results.jobs.to_csv(csv_path, index=False)
    markdown_path.write_text(summary_markdown(results))
    plot_comparison(results).savefig(figure_path, dpi=120)
    return [csv_path, markdown_path, figure_path]


# Hydra callback and CLI ------------------------------------------------------------------------------------


class SweepReport(Callback):
    """Rewrites the report in the sweep directory after every job of a multirun, so an interrupted sweep has one.

    Register under ``hydra.callbacks`` with ``_target_: sts_lab.report.SweepReport``. A report error is
    logged, never raised: it must not stop the sweep.
    """

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.report(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.report(config)
        if OmegaConf.select(config, "logger.view"):
            try:
                from sts_lab.wandb_view import at_sweep_end  # here: only a sweep that asks for a view pays for it

                at_sweep_end(config, self.sweep_dir(config))
            except Exception:
                log.warning("Could not make the W&B view and report", exc_info=True)

    @staticmethod
    def sweep_dir(config: DictConfig) -> Path:
        # A relative sweep dir is relative to the launch directory, which differs from the cwd inside a
        # job when hydra.job.chdir is true.
        return Path(OmegaConf.select(config, "hydra.runtime.cwd") or os.getcwd()) / config.hydra.sweep.dir

    def report(self, config: DictConfig) -> None:
        if OmegaConf.select(config, "hydra.mode") not in (RunMode.MULTIRUN, RunMode.MULTIRUN.name):
            return
        try:
            sweep_dir = self.sweep_dir(config)
            write_report(load_sweep(sweep_dir), sweep_dir)
        except Exception:
            log.warning("Could not write the sweep report", exc_info=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sts_lab.report``: write the report files and print the markdown summary."""
    parser = argparse.ArgumentParser(prog="python -m sts_lab.report", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", nargs="?", type=Path, help="a Hydra multirun directory (multirun/DATE/TIME)")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read the runs from W&B; --view/--publish save there")
    parser.add_argument("--group", help="the W&B run group of the sweep (with --wandb)")
    parser.add_argument("--out", type=Path, help="report directory (default: SWEEP_DIR, or ./report-GROUP)")
    parser.add_argument("--view", action="store_true", help="save a W&B workspace view of the sweep in --wandb")
    parser.add_argument("--publish", action="store_true", help="publish a W&B Report of the sweep in --wandb")
    parser.add_argument("--group-by", metavar="KEY", help="config key the view groups runs by (default: loss)")
    parser.add_argument("--searched", nargs="+", default=[], metavar="KEY", help="searched keys: adds a Search section")
    args = parser.parse_args(argv)
    to_wandb = args.view or args.publish
    if (args.sweep_dir is None and args.wandb is None) or (args.sweep_dir is not None and args.wandb and not to_wandb):
        parser.error("give either a sweep directory or --wandb ENTITY/PROJECT (both only with --view or --publish)")
    if to_wandb and not args.wandb:
        parser.error("--view and --publish need --wandb ENTITY/PROJECT")
    if args.wandb and not args.group and args.sweep_dir is None:
        parser.error("--wandb needs --group")
    if (args.group_by or args.searched) and not to_wandb:
        parser.error("--group-by and --searched go with --view or --publish")
    try:
        if to_wandb:
            from sts_lab.wandb_view import cli  # here: wandb-workspaces is imported only when asked for

            kinds = [kind for kind, wanted in (("view", args.view), ("report", args.publish)) if wanted]
            return cli(args.wandb, args.group, args.sweep_dir, args.out, kinds, args.group_by, args.searched)
        if args.wandb:
            results, out_dir = load_wandb(args.wandb, args.group), args.out or Path(f"report-{args.group}")
        else:
            results, out_dir = load_sweep(args.sweep_dir), args.out or args.sweep_dir
    except StsLabError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    markdown_path = write_report(results, out_dir)[1]
    print(markdown_path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render a sweep's results: the markdown summary and the comparison figure, written into the sweep dir."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sts_lab.report.statistics import (
    AGGREGATE_METRICS, BOOTSTRAP_STATS, aggregate, completed_jobs, compared_keys, paired_bootstrap,
)
from sts_lab.report.study_results import rerun_results
from sts_lab.report.sweep_results import JOB_METRICS, PRUNED, STATUSES, SweepResults, config_keys

REPORT_FILES = ("summary.csv", "summary.md", "comparison.png")
RERUNS_FIGURE = "reruns.png"  # a search's answer: each study's best configuration rerun with the confirmation seeds

MARKDOWN_HEADERS = {
    "zero_shot_test_spearman": "zero-shot test", "dev_spearman": "dev", "best_dev_spearman": "best dev",
    "test_spearman": "test", "train_seconds": "train s",
}


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
    shown = [status for status in STATUSES if status != PRUNED or counts.get(PRUNED)]  # pruned only in searches
    return f"{len(jobs)} jobs: " + ", ".join(f"{counts.get(status, 0)} {status}" for status in shown) + "."


def jobs_markdown(jobs: pd.DataFrame) -> str:
    table = jobs[["job", "overrides", "status"]].copy()
    for metric in JOB_METRICS:
        table[MARKDOWN_HEADERS[metric]] = [number(value, decimals(metric)) for value in jobs[metric]]
    table["error"] = jobs.error
    return markdown_table(table)


def aggregate_markdown(summary: pd.DataFrame, keys: Sequence[str]) -> str:
    # "#" numbers the configurations as comparison.png does when their labels are too long to print there.
    table = pd.DataFrame(
        {"#": range(1, len(summary) + 1), "configuration": configuration_labels(summary, keys), "n": summary.n}
    )
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


def summary_markdown(results: SweepResults, n_resamples: int = 1000, seed: int = 0,
                     summary: pd.DataFrame | None = None) -> str:
    """The report as markdown: jobs, mean ± sd over seeds when repeated, bootstrap differences per swept key.
    ``summary``: ``aggregate(results)``, when the caller has it already."""
    sections = [f"# Sweep report: {results.source}", status_line(results.jobs), "## Jobs", jobs_markdown(results.jobs)]
    summary = aggregate(results) if summary is None else summary
    if (summary.n >= 2).any():
        sections += ["## Mean ± sd over seeds", aggregate_markdown(summary, config_keys(results.jobs))]
    sections += search_sections(results, n_resamples, seed)
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


def search_sections(results: SweepResults, n_resamples: int, seed: int) -> list[str]:
    """An Optuna search: each study's trials and best dev value, and its best configuration rerun with the
    confirmation seeds (mean ± sd), with paired bootstrap intervals between the studies on those reruns."""
    studies, reruns = results.studies, rerun_results(results)
    if studies is None and reruns is None:
        return []
    table = pd.DataFrame(columns=["study"]) if studies is None else pd.DataFrame({
        "study": studies.study,
        "trials (complete/pruned/failed)": [f"{c}/{p}/{f}" for c, p, f in zip(studies.complete, studies.pruned, studies.failed)],
        "best dev (search)": studies.best_dev.map(number),
        "best trial": studies.best_trial.map(lambda value: "" if pd.isna(value) else str(int(value))),
    })
    if reruns is not None:
        summary = aggregate(reruns).assign(study=lambda frame: frame.configuration.str.removeprefix("study="))
        summary = summary.set_index("study")
        for metric, header in (("dev_spearman", "dev (reruns)"), ("test_spearman", "test (reruns)")):
            table[header] = table.study.map(lambda study, metric=metric: mean_sd(
                summary[f"{metric}_mean"].get(study, np.nan), summary[f"{metric}_sd"].get(study, np.nan)))
        table["reruns"] = table.study.map(lambda study: int(summary.n.get(study, 0)))
    if studies is not None and studies.best_dev.notna().any():
        selected = studies.study[studies.best_dev.astype(float).idxmax()]
        table["selected by dev"] = ["yes" if study == selected else "" for study in table.study]
    sections = ["## Search: studies and their best configuration rerun with new seeds",
                "Best dev is the best trial's objective during the search (biased upward: the best of many); "
                "the reruns train that configuration again with each confirmation seed.", markdown_table(table)]
    if studies is not None:
        params = studies[studies.best_params.notna()]
        sections.append("\n".join(f"- `{row.study}`: " + ", ".join(f"`{k}={v}`" for k, v in row.best_params.items())
                                   for row in params.itertuples()))
    if reruns is not None and reruns.jobs.study.nunique() >= 2:
        try:
            comparison = paired_bootstrap(reruns, "study", n_resamples=n_resamples, seed=seed)
            sections += ["Paired bootstrap between studies on the reruns (test Spearman, A − B):",
                         bootstrap_markdown(comparison, "study")]
        except ValueError as error:
            sections.append(f"Studies not compared: {error}.")
    return sections


def configuration_labels(summary: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """Short x labels: only the keys that differ between configurations."""
    varying = [key for key in keys if summary[key].nunique(dropna=False) > 1]
    labels = [",".join(f"{key}={override_text(row[key])}" for key in varying if pd.notna(row[key]))
              for _, row in summary.iterrows()]
    return [label or config or "(no overrides)" for label, config in zip(labels, summary.configuration)]


def override_text(value: Any) -> str:
    """An override's value as typed: a key some jobs leave unset holds floats (NaN), so ``epochs=2`` reads 2.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


PLOT_LABEL_CHARS = 40  # longer configuration labels (a search's trials) are shown as their number in summary.md


def plot_labels(results: SweepResults, summary: pd.DataFrame | None = None) -> dict[str, str]:
    """Configuration -> its label in the figure: the differing overrides, or "#N" (its row in summary.md's
    table of configurations) when some label is too long for an axis or a legend."""
    summary = aggregate(results) if summary is None else summary
    labels = configuration_labels(summary, config_keys(results.jobs)) if not summary.empty else []
    if any(len(label) > PLOT_LABEL_CHARS for label in labels):
        labels = [f"#{index}" for index in range(1, len(labels) + 1)]
    return dict(zip(summary.configuration, labels))


def plot_test_spearman(axes: Axes, results: SweepResults, labels: dict[str, str], summary: pd.DataFrame) -> None:
    """Bars: mean test Spearman per configuration, sd error bars; dots: the seeds."""
    jobs = completed_jobs(results)
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
    axes.set_xticks(positions, [labels[config] for config in summary.configuration], rotation=30, ha="right")
    axes.set_ylabel("test Spearman")


def plot_dev_curves(axes: Axes, results: SweepResults, labels: dict[str, str]) -> None:
    """Dev Spearman against training step, one line per job; one colour and one legend entry per configuration."""
    axes.set_title("Dev Spearman during training")
    jobs = completed_jobs(results).set_index("job")
    colours = {config: f"C{index % 10}" for index, config in enumerate(jobs.configuration.unique())}
    labelled = set()
    for job, curve in results.curves.items():
        if job in jobs.index and not curve.empty:
            config = jobs.configuration[job]
            label = None if config in labelled else labels.get(config) or jobs.overrides[job] or job
            axes.plot(curve.step, curve.dev_spearman, marker=".", color=colours[config], label=label)
            labelled.add(config)
    if axes.lines:
        axes.legend(fontsize="x-small")
    else:
        axes.text(0.5, 0.5, "no dev curves", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("step")
    axes.set_ylabel("dev Spearman")


def plot_comparison(results: SweepResults, summary: pd.DataFrame | None = None) -> Figure:
    """The report figure: test Spearman per configuration (left), dev curves per job (right)."""
    figure = Figure(figsize=(13, 5), layout="constrained")  # no pyplot: no global state, renders with Agg
    left, right = figure.subplots(1, 2)
    summary = aggregate(results) if summary is None else summary
    labels = plot_labels(results, summary)
    plot_test_spearman(left, results, labels, summary)
    plot_dev_curves(right, results, labels)
    return figure


def write_report(results: SweepResults, out_dir: str | Path) -> list[Path]:
    """Write summary.csv (the jobs table), summary.md and comparison.png into ``out_dir``, and for a search with
    confirmation reruns reruns.png (the same figure over the reruns, one bar per study); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = csv_path, markdown_path, figure_path = [out_dir / name for name in REPORT_FILES]
    results.jobs.to_csv(csv_path, index=False)
    summary = aggregate(results)  # once: the tables and the figure share it
    markdown_path.write_text(summary_markdown(results, summary=summary))
    plot_comparison(results, summary).savefig(figure_path, dpi=120)
    reruns = rerun_results(results)
    if reruns is not None and not completed_jobs(reruns).empty:
        paths.append(out_dir / RERUNS_FIGURE)
        plot_comparison(reruns).savefig(paths[-1], dpi=120)
    return paths

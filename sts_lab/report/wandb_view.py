"""The W&B comparison of a sweep, ready to look at: a saved workspace view and a W&B Report.

Both are built with wandb-workspaces (W&B's own library for views and reports) from a run group, the config
key to group the runs by and, for a search, the searched parameters; ``sts_lab.report.wandb_publish`` saves them.
Only ``sts_lab.report`` imports these modules, and only when a view or a report is asked for, so the heavy
imports below never slow down ``--help``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
from matplotlib.colors import TABLEAU_COLORS
from wandb_workspaces import expr

from sts_lab.errors import StsLabError
from sts_lab.names import DEV_SPEARMAN_HISTORY_KEY, HISTORY_KEYS, METRIC_NAMES, STEP_KEY
from sts_lab.report.compat import runs_table_column

log = logging.getLogger(__name__)

DEFAULT_GROUP_BY = "loss"
DEFAULT_OBJECTIVE = "dev_spearman"
RUNSET_NAME = "Sweep runs"
# The config groups are the entry point's (config_path="../conf"): a swept group stands for its option's name.
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


# Names ------------------------------------------------------------------------------------------------------


def summary_key(name: str) -> str:
    """A metrics.json name; the tracker writes every one into the W&B run summary."""
    if name not in METRIC_NAMES:
        raise StsLabError(f"{name!r} is not a metric of metrics.json; available: {list(METRIC_NAMES)}")
    return name


def config_path(key: str) -> str:
    """A swept key as a path in the W&B run config: ``loss`` -> ``loss.name`` (tracking.run_config names each
    group's option there), ``optimizer.lr`` -> ``optimizer.lr``."""
    return f"{key}.name" if (CONF_DIR / key).is_dir() else key


def default_group_by(swept: Sequence[str]) -> str:
    """The loss when it was swept or nothing was, else the first swept key."""
    return DEFAULT_GROUP_BY if DEFAULT_GROUP_BY in swept or not swept else swept[0]


@dataclass(frozen=True)
class Comparison:
    """What the view and the report show: the W&B runs of one group, grouped by one config key."""

    entity: str
    project: str
    group: str
    group_by: str = DEFAULT_GROUP_BY  # a swept key (loss) or a run-config path (optimizer.lr)
    searched_params: Sequence[str] = ()  # keys a search varied: adds the Search section
    table_keys: Sequence[str] = ()  # swept keys shown in the runs table
    group_values: Sequence[str] = ()  # values of group_by, one colour each
    objective: str = DEFAULT_OBJECTIVE

    @property
    def by(self) -> str:
        return config_path(self.group_by)

    @property
    def title(self) -> str:
        return f"sts_lab sweep {self.group} by {self.by}"


# Panels -----------------------------------------------------------------------------------------------------


def line(title: str, metric: str, by: str) -> wr.LinePlot:
    """A history metric against the training step: each group's mean with its min–max band."""
    return wr.LinePlot(
        title=title, x=STEP_KEY, y=[metric], groupby=wr.Config(by), groupby_aggfunc="mean",
        groupby_rangefunc="minmax", smoothing_type="none",
    )


def bars(title: str, metric: str, by: str) -> wr.BarPlot:
    """A summary metric per group: mean ± sd over the group's runs (its seeds)."""
    return wr.BarPlot(
        title=title, metrics=[summary_key(metric)], orientation="v", groupby=wr.Config(by),
        groupby_aggfunc="mean", groupby_rangefunc="stddev",
    )


def comparison_panels(by: str) -> list[Any]:
    return [
        line("Dev Spearman", DEV_SPEARMAN_HISTORY_KEY, by),
        bars("Test Spearman (mean ± sd)", "test_spearman", by),
        bars("Zero-shot test Spearman (mean ± sd)", "zero_shot_test_spearman", by),
        bars("Train seconds (mean ± sd)", "train_seconds", by),
    ]


def training_panels(by: str) -> list[Any]:
    titles = {"loss": "Train loss", "learning_rate": "Learning rate", "grad_norm": "Grad norm"}
    return [line(title, HISTORY_KEYS[key], by) for key, title in titles.items()]


def search_panels(params: Sequence[str], objective: str) -> list[Any]:
    """Parallel coordinates of the searched params to the objective, one scatter per param, and importance."""
    target = wr.SummaryMetric(summary_key(objective))
    axes = [wr.ParallelCoordinatesPlotColumn(metric=metric) for metric in (*map(wr.Config, params), target)]
    return [
        wr.ParallelCoordinatesPlot(title=f"Searched parameters and {objective}", columns=axes),
        *(wr.ScatterPlot(title=f"{param} against {objective}", x=wr.Config(param), y=target) for param in params),
        wr.ParameterImportancePlot(with_respect_to=objective),
    ]


def sections(comparison: Comparison) -> list[tuple[str, list[Any]]]:
    """(name, panels) of each section; fresh panel objects on every call (each panel has its own id)."""
    by = comparison.by
    name = "Loss comparison" if by == config_path(DEFAULT_GROUP_BY) else f"Comparison by {by}"
    result = [(name, comparison_panels(by)), ("Training", training_panels(by))]
    if comparison.searched_params:
        searched = [config_path(key) for key in comparison.searched_params]
        result.append(("Search", search_panels(searched, comparison.objective)))
    return result


def table_columns(comparison: Comparison) -> list[str]:
    """Runs-table columns in the library's accessor format: swept keys, seed, state, the metrics of metrics.json."""
    keys = [comparison.by, *comparison.table_keys, *comparison.searched_params, "seed"]
    return [
        *(runs_table_column(wr.Config(path)) for path in dict.fromkeys(map(config_path, keys))),
        runs_table_column(wr.Metric("State")),
        *(runs_table_column(wr.SummaryMetric(name)) for name in METRIC_NAMES),
    ]


def colours(values: Sequence[str]) -> dict[str, str]:
    palette = list(TABLEAU_COLORS.values())
    return {value: palette[index % len(palette)] for index, value in enumerate(values)}


def group_filter(group: str) -> expr.And:
    return expr.And(expr.Metric("Group") == group)


# The view and the report ------------------------------------------------------------------------------------


def build_view(comparison: Comparison) -> ws.Workspace:
    """The saved workspace view: the group's runs, grouped and coloured by ``comparison.by``."""
    return ws.Workspace(
        entity=comparison.entity, project=comparison.project, name=comparison.title,
        settings=ws.WorkspaceSettings(x_axis=STEP_KEY),
        sections=[ws.Section(name=name, panels=panels, is_open=True) for name, panels in sections(comparison)],
        runset_settings=ws.RunsetSettings(
            filters=group_filter(comparison.group), groupby=[expr.Config(comparison.by)],
            group_colors=colours(comparison.group_values), pinned_columns=table_columns(comparison),
        ),
    )


def runset(comparison: Comparison) -> wr.Runset:
    return wr.Runset(
        entity=comparison.entity, project=comparison.project, name=RUNSET_NAME, filters=group_filter(comparison.group),
        groupby=[f"config.{comparison.by}"], pinned_columns=table_columns(comparison),
    )


def panel_grid(comparison: Comparison, panels: list[Any]) -> wr.PanelGrid:
    key = wr.Config(comparison.by)
    group_colours = {
        wr.RunsetGroup(runset_name=RUNSET_NAME, keys=(wr.RunsetGroupKey(key=key, value=value),)): colour
        for value, colour in colours(comparison.group_values).items()
    }
    return wr.PanelGrid(runsets=[runset(comparison)], panels=panels, custom_run_colors=group_colours)


def build_report(comparison: Comparison, tables: str, command: str) -> wr.Report:
    """The W&B Report: the command that made the sweep, the view's sections, the sweep report's tables."""
    blocks: list[Any] = [wr.MarkdownBlock(text=f"Made by:\n\n```bash\n{command}\n```")]
    for name, panels in sections(comparison):
        blocks += [wr.H2(text=name), panel_grid(comparison, panels)]
    blocks += [wr.H2(text="Tables"), wr.MarkdownBlock(text=tables)]
    return wr.Report(
        entity=comparison.entity, project=comparison.project, title=comparison.title, blocks=blocks,
        description=f"W&B group {comparison.group}, runs grouped by {comparison.by}.",
    )


def view_spec(view: ws.Workspace) -> str:
    return view._to_model().model_dump_json(by_alias=True, exclude_none=True, indent=2)


def report_spec(report: wr.Report) -> str:
    """The report's spec, built with no server: its run sets name no project here, because the library looks
    up the project's server id when it builds a run set that names one (Report.save does, online)."""
    offline = copy.deepcopy(report)
    for block in offline.blocks:
        for runset_ in getattr(block, "runsets", ()):
            runset_.entity = runset_.project = ""
    return offline._to_model().model_dump_json(by_alias=True, exclude_none=True, indent=2)

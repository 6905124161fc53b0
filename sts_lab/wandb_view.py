"""The W&B comparison of a sweep, ready to look at: a saved workspace view and a W&B Report.

Both are built with wandb-workspaces (W&B's own library for views and reports) from a run group, the config
key to group the runs by and, for a search, the searched parameters. Saving needs a W&B server; without one
(offline runs, no credentials, server unreachable) the specs are written as JSON next to the sweep, and the
explicit command creates the view and report once the runs are synced::

    python -m sts_lab.report SWEEP_DIR --wandb ENTITY/PROJECT --view --publish
    python -m sts_lab.report --wandb ENTITY/PROJECT --group GROUP --view --publish

Only ``sts_lab.report`` imports this module, and only when a view or a report is asked for, so the heavy
imports below never slow down ``--help``.
"""

from __future__ import annotations

import copy
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
from matplotlib.colors import TABLEAU_COLORS
from omegaconf import DictConfig, OmegaConf
from wandb_workspaces import expr
from wandb_workspaces.reports.v2.interface import _metric_to_backend_pc

from sts_lab.errors import StsLabError
from sts_lab.evaluation import DEV_SPEARMAN_LOG_KEY
from sts_lab.job import sweep_group
from sts_lab.outputs import METRIC_NAMES
from sts_lab.render import summary_markdown
from sts_lab.statistics import compared_keys
from sts_lab.storage import TRIALS_FILE, search_group
from sts_lab.sweep_results import SweepResults, load_sweep, load_wandb, read_json
from sts_lab.tracking import HISTORY_KEYS, STEP_KEY, choose_mode, has_credentials

log = logging.getLogger(__name__)

SPEC_FILES = {"view": "wandb_view.json", "report": "wandb_report.json"}
URLS_FILE = "wandb_urls.json"
KINDS = tuple(SPEC_FILES)  # what logger.view=true makes: both
NO_SERVER_EXIT = 3
DEFAULT_GROUP_BY = "loss"
DEFAULT_OBJECTIVE = "dev_spearman"
RUNSET_NAME = "Sweep runs"
# The config groups are the entry point's (config_path="../conf"): a swept group stands for its option's name.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


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
        line("Dev Spearman", HISTORY_KEYS[DEV_SPEARMAN_LOG_KEY], by),
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
        *(_metric_to_backend_pc(wr.Config(path)) for path in dict.fromkeys(map(config_path, keys))),
        _metric_to_backend_pc(wr.Metric("State")),
        *(_metric_to_backend_pc(wr.SummaryMetric(name)) for name in METRIC_NAMES),
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


# Saving -----------------------------------------------------------------------------------------------------


class Publisher(Protocol):
    """Where views and reports are saved: the W&B server, or a fake in tests."""

    def default_entity(self) -> str: ...
    def save_view(self, view: ws.Workspace) -> str: ...
    def save_report(self, report: wr.Report) -> str: ...


class WandbPublisher:
    """The W&B server, through wandb-workspaces; each method returns the saved object's URL."""

    def default_entity(self) -> str:
        import wandb  # wandb_workspaces imports it anyway; only the API object is made here

        return wandb.Api().default_entity

    def save_view(self, view: ws.Workspace) -> str:
        return view.save().url

    def save_report(self, report: wr.Report) -> str:
        return report.save().url


@dataclass
class Outcome:
    """What a request for a view and/or a report left behind."""

    kinds: Sequence[str]
    specs: list[Path]
    urls: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # why (some of) it was not saved

    def lines(self, rerun: str) -> list[str]:
        """The URLs, or one line that says what was not saved, why, what was written and how to finish."""
        saved = [f"W&B {kind}: {url}" for kind, url in self.urls.items()]
        if self.problem is None:
            return saved
        unsaved = " and ".join(f"W&B {kind}" for kind in self.kinds if kind not in self.urls)
        specs = ", ".join(map(str, self.specs))
        return [*saved, f"{unsaved} not saved: {self.problem}; wrote {specs}; once the runs are synced: {rerun}"]


def server_problem(mode: str) -> str | None:
    """Why there is no W&B server to save to, or None: then try."""
    if not has_credentials():
        return "no W&B credentials (WANDB_API_KEY or `wandb login`)"
    if mode != "online":
        return f"W&B mode is {mode}"
    return None


def offline_runs(sweep_dir: Path) -> str | None:
    """Why a view of this sweep would show nothing yet: its runs were logged offline (not on the server)."""
    if any(sweep_dir.glob("*/wandb/offline-run-*")):
        return "the sweep's runs were logged offline (upload them with `wandb sync`)"
    return None


def failure(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"W&B failed ({type(error).__name__}: {lines[0] if lines else ''})"


def build(comparison: Comparison, kinds: Sequence[str], tables: str, command: str) -> dict[str, Any]:
    builders = {"view": lambda: build_view(comparison), "report": lambda: build_report(comparison, tables, command)}
    return {kind: builders[kind]() for kind in kinds}


def write_specs(built: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, thing in built.items():
        path = out_dir / SPEC_FILES[kind]
        path.write_text((view_spec if kind == "view" else report_spec)(thing) + "\n")
        paths.append(path)
    return paths


def save(built: dict[str, Any], publisher: Publisher, out_dir: Path, urls: dict[str, str]) -> None:
    """Save each object, adding its URL to ``urls`` and to URLS_FILE (which keeps those of earlier saves)."""
    savers = {"view": publisher.save_view, "report": publisher.save_report}
    path = out_dir / URLS_FILE
    for kind, thing in built.items():
        urls[kind] = savers[kind](thing)
        path.write_text(json.dumps({**(read_json(path) or {}), kind: urls[kind]}, indent=2) + "\n")


def make(
    comparison: Comparison, out_dir: Path, kinds: Sequence[str], tables: str, command: str, publisher: Publisher,
    problem: str | None = None,
) -> Outcome:
    """Build the view and/or report, write their specs into ``out_dir`` and, unless ``problem`` says why not,
    save them through ``publisher`` (a missing entity becomes the publisher's default)."""
    if problem is None and not comparison.entity:
        try:
            comparison = replace(comparison, entity=publisher.default_entity())
        except Exception as error:  # no server behind the credentials: same as offline
            problem = failure(error)
    built = build(comparison, kinds, tables, command)
    outcome = Outcome(kinds, write_specs(built, out_dir), problem=problem)
    if problem is None:
        try:
            save(built, publisher, out_dir, outcome.urls)
        except Exception as error:
            outcome.problem = failure(error)
    return outcome


# From a sweep -----------------------------------------------------------------------------------------------


def compare(
    entity: str, project: str, group: str, results: SweepResults | None, group_by: str | None = None,
    searched_params: Sequence[str] = (), objective: str = DEFAULT_OBJECTIVE,
) -> Comparison:
    """The comparison of a sweep's runs; ``results`` (None when they cannot be read) give the swept keys (those
    with two values or more) and the values of the grouping key."""
    swept = compared_keys(results) if results is not None else []
    group_by = group_by or default_group_by(swept)
    values = []
    if results is not None and group_by in results.jobs:
        values = [str(value) for value in results.jobs[group_by].dropna().unique()]
    return Comparison(
        entity=entity, project=project, group=group, group_by=group_by, searched_params=tuple(searched_params),
        table_keys=tuple(swept), group_values=tuple(values), objective=objective,
    )


def sweep_config(sweep_dir: Path) -> DictConfig | None:
    """The sweep's config as Hydra recorded it (``multirun.yaml``), with its ``hydra`` node."""
    path = sweep_dir / "multirun.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def run_group(config: DictConfig | None, sweep_dir: Path) -> str:
    """The sweep's W&B group, as sts_lab.job chose it for every job (for a search: its study name)."""
    configured = OmegaConf.select(config, "logger.group") if config is not None else None
    study = search_group(OmegaConf.select(config, "hydra.sweeper")) if config is not None else None
    return configured or study or sweep_group(str(sweep_dir))


def searched_in(sweep_dir: Path) -> list[str]:
    """The parameters an Optuna search of this sweep dir searched: the ``params_*`` columns of its trials.csv."""
    path = sweep_dir / TRIALS_FILE
    header = path.read_text().splitlines()[0].split(",") if path.is_file() else []
    return [column.removeprefix("params_") for column in header if column.startswith("params_")]


def sweep_command(config: DictConfig | None) -> str:
    """The command line that made the sweep, from Hydra's record of its overrides."""
    overrides = OmegaConf.select(config, "hydra.overrides") if config is not None else None
    if overrides is None:
        return "(not recorded: read from W&B, not from the sweep directory)"
    hydra = [item for item in overrides.hydra if not item.startswith("hydra.mode=")]
    return shlex.join(["python", "-m", "sts_lab", "--multirun", *hydra, *overrides.task])


def tables(results: SweepResults | None) -> str:
    if results is None:
        return "(The sweep report's tables are missing: the runs could not be read.)"
    return summary_markdown(results)


def at_sweep_end(config: DictConfig, sweep_dir: Path, publisher: Publisher | None = None) -> Outcome:
    """``logger.view=true``: the view and the report of the sweep that just ended. With no server it writes the
    specs and logs one line; the sweep's exit status is the jobs' alone."""
    logger = config.logger
    results = load_sweep(sweep_dir)
    comparison = compare(
        logger.entity or "", logger.project, run_group(config, sweep_dir), results,
        searched_params=searched_in(sweep_dir), objective=config.get("objective", DEFAULT_OBJECTIVE),
    )
    problem = server_problem(choose_mode(logger.mode)) or offline_runs(sweep_dir)
    outcome = make(
        comparison, sweep_dir, KINDS, tables(results), sweep_command(config), publisher or WandbPublisher(), problem,
    )
    path = f"{logger.entity}/{logger.project}" if logger.entity else logger.project  # no entity: the default one
    rerun = shlex.join(["python", "-m", "sts_lab.report", str(sweep_dir), "--wandb", path, "--view", "--publish"])
    for text in outcome.lines(rerun):
        (log.warning if outcome.problem else log.info)(text)
    return outcome


def cli(
    wandb_path: str, group: str | None, sweep_dir: Path | None, out: Path | None, kinds: Sequence[str],
    group_by: str | None = None, searched_params: Sequence[str] = (), publisher: Publisher | None = None,
) -> int:
    """``python -m sts_lab.report ... --view/--publish``: prints the URLs (0), or one line without a server (3).

    The runs' results come from the sweep directory when one is given, else from W&B (which needs the server).
    """
    entity, _, project = wandb_path.rpartition("/")
    problem = server_problem(choose_mode(None))
    results, config = None, None
    if sweep_dir is not None:
        results, config = load_sweep(sweep_dir), sweep_config(sweep_dir)
        group = group or run_group(config, sweep_dir)
        searched_params = searched_params or searched_in(sweep_dir)
    elif problem is None:
        try:
            results = load_wandb(wandb_path, group)
        except StsLabError:
            raise
        except Exception as error:
            problem = failure(error)
    objective = OmegaConf.select(config, "objective") if config is not None else None
    comparison = compare(entity, project, group, results, group_by, searched_params, objective or DEFAULT_OBJECTIVE)
    out_dir = out or sweep_dir or Path(f"report-{group}")
    outcome = make(
        comparison, out_dir, kinds, tables(results), sweep_command(config), publisher or WandbPublisher(), problem,
    )
    print("\n".join(outcome.lines("run this command again")), file=sys.stderr if outcome.problem else sys.stdout)
    return NO_SERVER_EXIT if outcome.problem else 0

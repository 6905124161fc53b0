"""Save a sweep's W&B view and report (``sts_lab.report.wandb_view``) to the server, or, without one, write their specs
next to the sweep and say in one line how to finish once the runs are synced. The entry points of
``python -m sts_lab.report --view/--publish`` and of ``logger.view=true``.
"""

from __future__ import annotations

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
from omegaconf import DictConfig, OmegaConf

from sts_lab.errors import StsLabError
from sts_lab.report.render import summary_markdown
from sts_lab.report.statistics import compared_keys
from sts_lab.names import MULTIRUN_FILE, TRIALS_FILE, wandb_group
from sts_lab.report.sweep_results import SweepResults, load_sweep, load_wandb, read_json
from sts_lab.tracking.mode import choose_mode, has_credentials
from sts_lab.report.wandb_view import (
    DEFAULT_OBJECTIVE, Comparison, build_report, build_view, default_group_by, report_spec, view_spec,
)

log = logging.getLogger(__name__)

SPEC_FILES = {"view": "wandb_view.json", "report": "wandb_report.json"}
URLS_FILE = "wandb_urls.json"
KINDS = tuple(SPEC_FILES)  # what logger.view=true makes: both
NO_SERVER_EXIT = 3


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
    path = sweep_dir / MULTIRUN_FILE
    return OmegaConf.load(path) if path.is_file() else None


def run_group(config: DictConfig | None, sweep_dir: Path) -> str:
    """The sweep's W&B group, as sts_lab.job chose it for every job (for a search: its study name)."""
    if config is None:
        return wandb_group(None, None, sweep_dir)
    return wandb_group(OmegaConf.select(config, "logger.group"), OmegaConf.select(config, "hydra.sweeper"), sweep_dir)


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

"""The W&B view and report of a real tiny sweep logged offline: specs, the names they use, CLI, publishing.

No W&B server here: the sweep's runs are read back with `wandb leet inspect`, and saving goes through a fake.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from wandb_workspaces import expr

from sts_lab.report.render import summary_markdown
from sts_lab.report.__main__ import main
from sts_lab.names import OPTIONAL_METRICS
from sts_lab.report.sweep_results import load_sweep
from sts_lab.report.wandb_publish import cli
from sts_lab.report.wandb_view import Comparison, build_view, view_spec
from tests.conftest import TINY
from tests.test_sweep import wandb_inspect

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess

LOSSES = ("cosine", "cosent")
GROUP = "day_time"  # the group sts_lab.job gives a sweep in multirun/day/time


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("view")
    sweep_dir = root / "multirun" / "day" / "time"
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", "--multirun", *TINY, f"loss={','.join(LOSSES)}", "logger.view=true",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )
    return sweep_dir, result


def config_paths(config: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in config.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from config_paths(value, f"{prefix}{key}.")


@pytest.fixture(scope="module")
def logged(sweep) -> dict[str, set[str]]:
    """What the offline runs logged, read back from their run files: history keys, summary keys, config paths."""
    sweep_dir, _ = sweep
    names = {"history": set(), "summary": set(), "config": set(), "run": {"displayName", "state"}}
    for run_dir in sweep_dir.glob("*/wandb/offline-run-*"):
        inspected = json.loads(wandb_inspect(run_dir, "--summary"))
        names["summary"] |= set(inspected["summary"])
        names["config"] |= set(config_paths(inspected["config"]))
        for line in wandb_inspect(run_dir).splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("type") == "history":
                names["history"] |= set(record["history"]["item"])
    return names


# Where a spec names a metric or key, in the library's own formats -------------------------------------------


def config_name(backend: str) -> str:
    """``loss.value.name`` (how wandb-workspaces writes config keys) -> ``loss.name``."""
    return ".".join(part for part in backend.split(".") if part != "value")


def accessor(text: str) -> tuple[str, str]:
    """``config:optimizer.value.lr`` / ``summary:dev_spearman`` / ``run:state`` -> (section, name)."""
    section, name = text.split(":", 1)
    return section, config_name(name) if section == "config" else name


def panel_references(panel: dict[str, Any]) -> list[tuple[str, str]]:
    config, kind = panel["config"], panel["viewType"]
    grouped = [("config", config_name(config["groupBy"]))] if config.get("groupBy") else []
    if kind == "Run History Line Plot":
        return [("history", config["xAxis"]), *(("history", name) for name in config["metrics"]), *grouped]
    if kind == "Bar Chart":
        return [*(("summary", name) for name in config["metrics"]), *grouped]
    if kind == "Parallel Coordinates Plot":
        return [accessor(column["accessor"]) for column in config["columns"]]
    if kind == "Scatter Plot":
        return [accessor(config["xAxis"]), accessor(config["yAxis"])]
    if kind == "Parameter Importance":
        return [("summary", config["targetKey"])]
    raise AssertionError(f"unexpected panel type {kind}: teach this test what it names")


def find(spec: Any, key: str) -> Iterator[dict[str, Any]]:
    """Every dict in ``spec`` that has ``key``."""
    if isinstance(spec, dict):
        if key in spec:
            yield spec
        for value in spec.values():
            yield from find(value, key)
    elif isinstance(spec, list):
        for value in spec:
            yield from find(value, key)


def references(spec: dict[str, Any]) -> set[tuple[str, str]]:
    names = {name for panel in find(spec, "viewType") for name in panel_references(panel)}
    for runset in find(spec, "runFeed"):
        names |= {("config", config_name(key["name"])) for key in runset["grouping"]}
        names |= {accessor(column) for column in runset["runFeed"]["columnOrder"]}
    return names


def sections(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {section["name"]: section["panels"] for section in view["spec"]["section"]["panelBankConfig"]["sections"]}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# The tests -------------------------------------------------------------------------------------------------


def test_sweep_end_writes_both_specs_and_exits_0(sweep):
    sweep_dir, result = sweep
    assert result.returncode == 0, result.stderr
    assert (sweep_dir / "wandb_view.json").is_file() and (sweep_dir / "wandb_report.json").is_file()
    assert not (sweep_dir / "wandb_urls.json").exists()
    said = [line for line in (result.stdout + result.stderr).splitlines() if "not saved:" in line]
    assert len(said) == 1 and "W&B view and W&B report not saved" in said[0] and "wandb_view.json" in said[0]


def test_view_filters_the_group_groups_by_the_loss_and_holds_the_panels(sweep):
    sweep_dir, _ = sweep
    view = load(sweep_dir / "wandb_view.json")
    (runset,) = view["spec"]["section"]["runSets"]
    assert runset["filters"]["filters"] == [
        {"key": {"section": "run", "name": "group"}, "op": "=", "value": GROUP, "disabled": False},
    ]
    assert runset["grouping"] == [{"section": "config", "name": "loss.value.name"}]
    columns = runset["runFeed"]["columnOrder"]
    assert {"config:loss.value.name", "config:seed.value", "run:state", "summary:test_spearman"} <= set(columns)

    panels = sections(view)
    assert list(panels) == ["Loss comparison", "Training"]  # no Search section: nothing was searched
    comparison = {panel["config"]["chartTitle"]: panel for panel in panels["Loss comparison"]}
    dev = comparison["Dev Spearman"]["config"]
    assert (dev["xAxis"], dev["metrics"], dev["groupAgg"], dev["groupArea"]) == (
        "train/global_step", ["dev/spearman"], "mean", "minmax")
    bars = {tuple(panel["config"]["metrics"]): panel["config"] for panel in panels["Loss comparison"][1:]}
    assert set(bars) == {("test_spearman",), ("zero_shot_test_spearman",), ("train_seconds",)}
    assert all((bar["groupAgg"], bar["groupArea"]) == ("mean", "stddev") for bar in bars.values())
    assert [panel["config"]["metrics"] for panel in panels["Training"]] == [
        ["train/loss"], ["train/learning_rate"], ["train/grad_norm"]]
    grouped = [*panels["Loss comparison"], *panels["Training"]]
    assert all(panel["config"]["groupBy"] == "loss.value.name" for panel in grouped)
    colours = view["spec"]["section"]["customRunColors"]
    assert all(any(f"%22{loss}%22" in key for key in colours) for loss in LOSSES)  # one colour per loss


def test_report_holds_the_panels_the_tables_and_the_command(sweep):
    sweep_dir, _ = sweep
    report = load(sweep_dir / "wandb_report.json")
    blocks = report["spec"]["blocks"]
    headings = [block["children"][0]["text"] for block in blocks if block["type"] == "heading"]
    assert headings == ["Loss comparison", "Training", "Tables"]
    markdown = [block["content"] for block in blocks if block["type"] == "markdown-block"]
    assert "python -m sts_lab --multirun" in markdown[0] and f"loss={','.join(LOSSES)}" in markdown[0]
    assert markdown[1] == summary_markdown(load_sweep(sweep_dir))  # the sweep report's own tables
    assert "Paired bootstrap: loss" in markdown[1]
    for runset in find(report, "runFeed"):
        assert runset["filters"]["filters"][0]["value"] == GROUP
        assert runset["grouping"] == [{"section": "config", "name": "loss.value.name"}]


def test_every_name_the_specs_use_was_logged_by_the_runs(sweep, logged):
    sweep_dir, _ = sweep
    searched = Comparison("me", "sts_lab", GROUP, searched_params=("optimizer.lr", "loss"))
    specs = [load(sweep_dir / name) for name in ("wandb_view.json", "wandb_report.json")]
    specs.append(json.loads(view_spec(build_view(searched))))
    assert "Search" in sections(specs[2])
    for spec in specs:
        for section, name in references(spec):
            if section == "summary" and name in OPTIONAL_METRICS:
                continue  # null unless early stopping ended the run (these runs took all their steps)
            assert name in logged[section], f"{section} {name!r} is not logged; logged: {sorted(logged[section])}"


def test_cli_without_a_server_writes_the_specs_and_exits_3(sweep, tmp_path, capsys):
    sweep_dir, _ = sweep
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab.report", str(sweep_dir), "--wandb", "me/sts_lab", "--view", "--publish",
         "--searched", "optimizer.lr", "--out", str(tmp_path / "from-dir")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "not saved:" in result.stderr
    assert "Search" in sections(load(tmp_path / "from-dir" / "wandb_view.json"))
    assert (tmp_path / "from-dir" / "wandb_report.json").is_file()

    # From W&B alone nothing can be read without a server: the view is still specified.
    assert main(["--wandb", "me/sts_lab", "--group", GROUP, "--view", "--out", str(tmp_path / "from-wandb")]) == 3
    assert "W&B view not saved" in capsys.readouterr().err
    assert load(tmp_path / "from-wandb" / "wandb_view.json")["spec"]["section"]["runSets"][0]["filters"]["filters"][0][
        "value"] == GROUP


class FakePublisher:
    """Stands in for the W&B server: records what would be saved, answers with made-up URLs."""

    def __init__(self, fail: bool = False) -> None:
        self.views, self.reports, self.fail = [], [], fail

    def default_entity(self) -> str:
        return "default-team"

    def save_view(self, view) -> str:
        if self.fail:
            raise ConnectionError("server unreachable")
        self.views.append(view)
        return f"https://wandb.example/{view.entity}/{view.project}?nw=view1"

    def save_report(self, report) -> str:
        self.reports.append(report)
        return f"https://wandb.example/{report.entity}/{report.project}/reports/report1"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)


def test_publishing_sends_the_view_and_report_to_the_project(sweep, tmp_path, server, capsys):
    sweep_dir, _ = sweep
    fake = FakePublisher()
    assert cli("me/sts_lab", None, sweep_dir, tmp_path, ["view", "report"], publisher=fake) == 0

    (view,), (report,) = fake.views, fake.reports
    assert (view.entity, view.project, report.entity, report.project) == ("me", "sts_lab", "me", "sts_lab")
    (only,) = expr.string_to_filterexpr_list(view.runset_settings.filters)
    assert (type(only.key), only.key.name, only.op, only.value) == (expr.Metric, "Group", "=", GROUP)
    assert [group.name for group in view.runset_settings.groupby] == ["loss.name"]
    assert [section.name for section in view.sections] == ["Loss comparison", "Training"]
    assert view.sections[0].panels[0].y == ["dev/spearman"]
    grids = [block for block in report.blocks if hasattr(block, "runsets")]
    runsets = [runset for grid in grids for runset in grid.runsets]
    assert len(grids) == 2 and all(
        (runset.entity, runset.project, runset.filters, runset.groupby)
        == ("me", "sts_lab", view.runset_settings.filters, ["config.loss.name"])
        for runset in runsets
    )
    urls = load(tmp_path / "wandb_urls.json")
    assert urls == {"view": "https://wandb.example/me/sts_lab?nw=view1",
                    "report": "https://wandb.example/me/sts_lab/reports/report1"}
    assert capsys.readouterr().out.splitlines() == [f"W&B {kind}: {url}" for kind, url in urls.items()]

    # No entity given: the API's default entity; a failing server: one line and exit 3, the specs still written.
    assert cli("sts_lab", None, sweep_dir, tmp_path / "default", ["view"], publisher=fake) == 0
    assert fake.views[-1].entity == "default-team"
    assert cli("me/sts_lab", None, sweep_dir, tmp_path / "down", ["view"], publisher=FakePublisher(fail=True)) == 3
    assert "W&B view not saved: W&B failed (ConnectionError: server unreachable)" in capsys.readouterr().err
    assert (tmp_path / "down" / "wandb_view.json").is_file()

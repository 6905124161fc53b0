"""The private wandb-workspaces API the W&B view needs, in one place: check it first when the library moves."""

from __future__ import annotations

from typing import Any


def runs_table_column(metric: Any) -> Any:
    """A runs-table column of a view: wandb-workspaces builds these only inside its own Runset (no public helper
    turns a Config/Metric/SummaryMetric into the column form a workspace's runs table takes)."""
    from wandb_workspaces.reports.v2.interface import _metric_to_backend_pc

    return _metric_to_backend_pc(metric)

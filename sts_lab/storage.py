"""Where a search keeps its studies: the storage URL, opened with a heartbeat for running trials.

Shared by the sweeper (``hydra_plugins.sts_lab_optuna_sweeper``) and the jobs it launches, which find their
trial through the same storage, in the same process or on another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_STUDY_NAME = "sts_lab"
DEFAULT_STORAGE_FILE = "optuna.db"  # in the sweep dir when hydra.sweeper.storage is null
TRIALS_FILE = "trials.csv"  # in the sweep dir: one row per trial of every study of the search
SWEEPER_TARGET = "hydra_plugins.sts_lab_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def search_group(sweeper: Any) -> str | None:
    """The W&B group of every job of an Optuna search: its study name (without the grid suffix, so the
    studies of one grid share a group); None when ``sweeper`` (``hydra.sweeper``) is not ours."""
    if sweeper is None or sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    return sweeper.get("study_name") or DEFAULT_STUDY_NAME


def storage_url(configured: str | None, sweep_dir: str | Path) -> str:
    """``hydra.sweeper.storage``, or an SQLite file in the sweep dir."""
    return configured or f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_STORAGE_FILE}"


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None) -> Any:
    """An Optuna RDBStorage on any SQLAlchemy URL. With ``heartbeat_interval``, a RUNNING trial whose heartbeat
    stops for ``grace_period`` seconds (its worker died) is failed and its parameters retried by the next ask."""
    import warnings

    import optuna

    # Heartbeats and fail_stale_trials are stable in use but still flagged experimental by Optuna 5.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    heartbeat = {}
    if heartbeat_interval:
        heartbeat = dict(
            heartbeat_interval=heartbeat_interval, grace_period=grace_period or 2 * heartbeat_interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
        )
    return optuna.storages.RDBStorage(url, **heartbeat)

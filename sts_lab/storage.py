"""Where a search keeps its studies: the storage URL, opened with a heartbeat for running trials.

Shared by the sweeper (``hydra_plugins.sts_lab_optuna_sweeper``) and the jobs it launches, which find their
trial through the same storage, in the same process or on another machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sts_lab.errors import StsLabError
from sts_lab.secrets import mask

DEFAULT_STUDY_NAME = "sts_lab"
DEFAULT_STORAGE_FILE = "optuna.db"  # in the sweep dir when hydra.sweeper.storage is null
CONFIRM_SUFFIX = "-confirm"  # the study that hands a search's confirmation reruns out to its workers
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
    """An Optuna RDBStorage on any SQLAlchemy URL, connected. With ``heartbeat_interval``, a RUNNING trial whose
    heartbeat stops for ``grace_period`` seconds (its worker died) is failed and its parameters retried by the
    next ask.

    Raises StsLabError with one line (the URL's password masked) for an unknown scheme, a missing driver, an
    unreachable server or refused credentials.
    """
    import warnings

    import optuna
    import sqlalchemy.exc

    # Heartbeats and fail_stale_trials are stable in use but still flagged experimental by Optuna 5.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # With ask and tell Optuna warns at every ask that it does not beat the heart itself: we do (see beating).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    heartbeat = {}
    if heartbeat_interval:
        heartbeat = dict(
            heartbeat_interval=heartbeat_interval, grace_period=grace_period or 2 * heartbeat_interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
        )
    where = f"hydra.sweeper.storage={mask(url)!r}"
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, **heartbeat)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers starting at the same moment on an empty database race to create Optuna's tables; the
            # loser finds them made on a second try.
            if attempt == 2:
                raise
            time.sleep(0.5 + attempt)
        except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as error:
            raise StsLabError(f"{where}: not a database URL SQLAlchemy knows ({first_line(error)}); use "
                              "sqlite:///PATH or postgresql://USER:PASSWORD@HOST[:PORT]/DB") from None
        except ImportError as error:
            hint = "pip install 'sts_lab[postgres]' (psycopg 3)" if url.startswith("postgresql") else "install its driver"
            raise StsLabError(f"{where}: its database driver is not installed ({first_line(error)}); {hint}") from None
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as error:
            raise StsLabError(f"{where}: cannot connect: {first_line(error.orig or error)}") from None
    raise AssertionError("unreachable")


def first_line(error: BaseException) -> str:
    return mask(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


@contextmanager
def beating(storage: Any, trial_ids: Sequence[int]) -> Iterator[None]:
    """Record the trials' heartbeats every heartbeat interval while the block runs. Optuna beats only inside
    ``Study.optimize``; with ask and tell, whoever runs a trial must (the sweeper while it waits on its jobs,
    and each job while it trains, so the beat stops with either)."""
    if storage.get_heartbeat_interval() is None or not trial_ids:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            for trial_id in trial_ids:
                storage.record_heartbeat(trial_id)
            stop.wait(storage.get_heartbeat_interval())

    thread = threading.Thread(target=beat, name=f"optuna-heartbeat-{list(trial_ids)}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

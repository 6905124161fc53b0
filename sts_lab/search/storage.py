"""Where a search keeps its studies: the storage URL, opened with a heartbeat for running trials.

Shared by the sweeper (``hydra_plugins.sts_lab_optuna_sweeper``) and the jobs it launches, which find their
trial through the same storage, in the same process or on another machine.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sts_lab.errors import StsLabError, first_line
from sts_lab.names import stale_error_key
from sts_lab.secrets import mask

log = logging.getLogger(__name__)


class RetryStaleTrial:
    """Optuna's ``RetryHeartbeatStaleTrialCallback`` (the retry count lives in the storage, in the retried trial's
    ``retry_history``, so every worker counts alike), which also records why a trial is not retried any more: in
    the study's user attribute ``error:N`` (a finished trial's own attributes cannot change any more)."""

    def __init__(self, max_retry: int | None) -> None:
        import optuna

        self.max_retry, self.retry = max_retry, optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: Any, trial: Any) -> None:
        attempts = len(trial.system_attrs.get("retry_history", [])) + 1
        if self.max_retry is not None and attempts > self.max_retry:
            reason = (f"its worker died {attempts} times (heartbeat stale): not retried beyond "
                      f"hydra.sweeper.max_retry={self.max_retry}")
            study.set_user_attr(stale_error_key(trial.number), reason)
            log.error("Study %s, trial %d: %s", study.study_name, trial.number, reason)
        self.retry(study, trial)


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_retry: int | None = None) -> Any:
    """An Optuna RDBStorage on any SQLAlchemy URL, connected. With ``heartbeat_interval``, a RUNNING trial whose
    heartbeat stops for ``grace_period`` seconds (its worker died) is failed and its parameters retried by the
    next ask, at most ``max_retry`` times (None: always).

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
            heartbeat_stale_trial_callback=RetryStaleTrial(max_retry),
        )
    where = f"hydra.sweeper.storage={mask(url)!r}"
    for attempt in itertools.count():
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
            try:
                for trial_id in trial_ids:
                    storage.record_heartbeat(trial_id)
            except Exception as error:  # a database hiccup must not end the beat while the job trains on
                log.warning("Heartbeat of trials %s not recorded (retrying in %s s): %s", list(trial_ids),
                            storage.get_heartbeat_interval(), first_line(error))
            stop.wait(storage.get_heartbeat_interval())

    thread = threading.Thread(target=beat, name=f"optuna-heartbeat-{list(trial_ids)}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

"""Where a search keeps its studies: the storage URL, opened with a heartbeat for running trials.

Shared by the sweeper (``hydra_plugins.sts_lab_optuna_sweeper``) and the jobs it launches, which find their
trial through the same storage, in the same process or on another machine.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sts_lab.errors import StsLabError
from sts_lab.secrets import mask

log = logging.getLogger(__name__)

DEFAULT_STUDY_NAME = "sts_lab"
DEFAULT_STORAGE_FILE = "optuna.db"  # in the sweep dir when hydra.sweeper.storage is null
CONFIRM_SUFFIX = "-confirm"  # NAME-confirm-N: the study that hands out the confirmation reruns of NAME's trial N
TRIALS_FILE = "trials.csv"  # in the sweep dir: one row per trial of every study of the search
SWEEPER_TARGET = "hydra_plugins.sts_lab_optuna_sweeper.optuna_sweeper.OptunaSweeper"
# The objectives whose value dev Spearman at an evaluation stands for (what a trial reports to the pruner).
PRUNABLE_OBJECTIVES = ("dev_spearman", "best_dev_spearman")
ERROR_ATTR = "error"  # trial user attribute: why it failed (a job's error, NaN, or a worker that kept dying)


@dataclass
class GridPoint:
    """One study of a search's outer grid: its name and the overrides that fix the grid keys (``loss=cosine``)."""

    study_name: str
    overrides: list[str]


def flat_grid(grid_params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"warmup_ratio": [0, 0.1]}}`` (a dotted key on the command line) -> ``{"optimizer.warmup_ratio": [0, 0.1]}``."""
    flat = {}
    for key, value in grid_params.items():
        if isinstance(value, Mapping):
            flat.update(flat_grid(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def grid_points(grid_params: Mapping[str, Any] | None, study_name: str) -> list[GridPoint]:
    """``{"loss": "cosine,cosent"}``, ``{"loss": ["cosine", "cosent"]}`` or ``{"loss": "choice(cosine,cosent)"}``
    -> studies ``NAME-cosine`` and ``NAME-cosent``, with ``loss=cosine`` and ``loss=cosent``; one study without
    a grid. The sweeper runs these studies; the report reads exactly these back."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not grid_params:
        return [GridPoint(study_name, [])]
    as_text = {key: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
               for key, value in flat_grid(grid_params).items()}
    values = []
    for override in OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in as_text.items()]):
        key = override.get_key_element()
        if override.is_sweep_override() and not override.is_discrete_sweep():
            raise StsLabError(f"hydra.sweeper.grid_params.{key}={override.get_value_element_as_str()}: "
                              "list the values (a,b,c or choice(a,b,c)), not a range or interval")
        choices = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.get_value_element_as_str()]
        values.append([(key, value) for value in choices])
    return [
        GridPoint("-".join([study_name, *(value for _, value in point)]), [f"{key}={value}" for key, value in point])
        for point in itertools.product(*values)
    ]


def confirm_study_name(study_name: str, trial_number: int) -> str:
    """The study of the confirmation reruns of ``study_name``'s trial ``trial_number``: a new best after a resume
    gets reruns of its own, and the reruns of an older best stay where they are."""
    return f"{study_name}{CONFIRM_SUFFIX}-{trial_number}"


def file_safe(study_name: str) -> str:
    """A study name as part of a file name in the sweep dir (``a/b`` would name a directory)."""
    return study_name.replace("/", "_")


def search_group(sweeper: Any) -> str | None:
    """The W&B group of every job of an Optuna search: its study name (without the grid suffix, so the
    studies of one grid share a group); None when ``sweeper`` (``hydra.sweeper``) is not ours."""
    if sweeper is None or sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    return sweeper.get("study_name") or DEFAULT_STUDY_NAME


def storage_url(configured: str | None, sweep_dir: str | Path, launch_dir: str | Path | None = None) -> str:
    """``hydra.sweeper.storage``, or an SQLite file in the sweep dir. A relative SQLite path is resolved against
    the launch directory (``launch_dir``, else the cwd), not a job's cwd (``hydra.job.chdir=true``)."""
    if not configured:
        return f"sqlite:///{(Path(launch_dir or '.') / sweep_dir).resolve() / DEFAULT_STORAGE_FILE}"
    scheme, separator, path = configured.partition(":///")
    if scheme.startswith("sqlite") and separator and path and not path.startswith(("/", ":memory:")):
        return f"{scheme}:///{(Path(launch_dir or '.') / path).resolve()}"
    return configured


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


def stale_error_key(trial_number: int) -> str:
    return f"{ERROR_ATTR}:{trial_number}"


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

"""The private APIs of Optuna and Hydra the sweeper needs, in one place, each with the reason no public one
serves. Check these first when Optuna or Hydra moves."""

from __future__ import annotations

from typing import Any

import optuna
from hydra.core.utils import JobReturn
from optuna.trial import FrozenTrial


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial: what heartbeats are recorded under (Optuna keeps it private)."""
    return trial._trial_id


def storage_of(study: optuna.Study) -> Any:
    """The study's storage: Optuna exposes no public getter, and heartbeats and retries are storage operations."""
    return study._storage


def heartbeat_enabled(study: optuna.Study) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage_of(study))


def record_heartbeat(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    storage_of(study).record_heartbeat(trial_id(trial))


def stored_trial(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """A running trial as the storage has it now (its system attributes, which ``optuna.Trial`` does not show)."""
    return storage_of(study).get_trial(trial_id(trial))


def trials_without_heartbeat(study: optuna.Study, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Those of ``trials`` that never recorded a heartbeat: Optuna has no getter, so its heartbeat table is read."""
    from optuna.storages._rdb.models import TrialHeartbeatModel

    rdb = getattr(storage_of(study), "_backend", storage_of(study))  # the RDB storage behind Optuna's cache
    with rdb.scoped_session() as session:
        beating = {row.trial_id for row in session.query(TrialHeartbeatModel.trial_id).filter(
            TrialHeartbeatModel.trial_id.in_([trial_id(t) for t in trials]))}
    return [trial for trial in trials if trial_id(trial) not in beating]


def job_error(job: JobReturn) -> BaseException | Any:
    """A failed job's exception without raising it (``JobReturn.return_value`` re-raises it)."""
    return job._return_value

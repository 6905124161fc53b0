"""What lets any number of sweeper processes (workers) share one study: who asks the next trial, whose job dir
is whose, and samplers that suggest different parameters on every worker.

The storage is the only shared state (an SQLite file on one machine, PostgreSQL across machines); the sweep
dir may be shared too (one machine, or a shared filesystem), so job dirs are claimed under a file lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.sts_lab_optuna_sweeper._compat import (
    heartbeat_enabled, record_heartbeat, stored_trial, trials_without_heartbeat,
)
from sts_lab.names import INTERRUPTED_ATTR, NOT_RUN_ATTR, RERUN_ATTR, RETRY_OF_ATTR, WORKER_ATTR

WORKER = f"{socket.gethostname()}:{os.getpid()}"  # trials.csv says which worker ran each trial
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (*FINISHED, TrialState.RUNNING, TrialState.WAITING)  # what a budget of n_trials counts
LOCK_FILE = ".sweeper.lock"
RETRY_ATTR = "failed_trial"  # system attribute of a trial retrying a stale one (RetryHeartbeatStaleTrialCallback)


def ask(study: optuna.Study, *args: Any) -> optuna.Trial:
    """``study.ask`` with the new trial's first heartbeat recorded at once. A trial without any heartbeat never
    goes stale, so a worker killed after asking but before its jobs beat would leave it RUNNING for good."""
    trial = study.ask(*args)
    if heartbeat_enabled(study):
        record_heartbeat(study, trial)
    return trial


def beat_silent_trials(study: optuna.Study, running: list[FrozenTrial]) -> None:
    """Give RUNNING trials that never beat (left by a search run with heartbeats off) a first heartbeat, so they
    go stale after the grace period like any other; Optuna never fails a trial without one. A trial that beats
    already keeps its own."""
    for trial in trials_without_heartbeat(study, running):
        record_heartbeat(study, trial)


def free_slots(study: optuna.Study, n_trials: int) -> tuple[int, int]:
    """(finished trials, trials still to ask): the budget less finished and running trials, of every worker."""
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in FINISHED for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return finished, n_trials - finished - running


def beyond_budget(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """Whether ``trial`` overdraws the budget: two workers that each saw one free slot both asked. Trial numbers
    are handed out by the storage one at a time, so the lower number keeps the slot, on every worker alike."""
    return sum(t.number <= trial.number and t.state in LIVE for t in study.get_trials(deepcopy=False)) > n_trials


def is_retry(trial: FrozenTrial) -> bool:
    return RETRY_ATTR in trial.system_attrs or RETRY_OF_ATTR in trial.user_attrs


def requeue_interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    """A trial its search was interrupted in (Ctrl-C): failed, and its parameters queued again, so the resumed
    search runs them first instead of waiting out the heartbeat's grace period. Not a failure of the job."""
    trial.set_user_attr(INTERRUPTED_ATTR, "the search was interrupted while it ran; queued again")
    user_attrs = {key: value for key, value in trial.user_attrs.items() if key == RERUN_ATTR}
    study.tell(trial, state=TrialState.FAIL)
    study.enqueue_trial(dict(trial.params), user_attrs={**user_attrs, RETRY_OF_ATTR: trial.number}, skip_if_exists=False)


def rerun_slots(study: optuna.Study, n_reruns: int) -> tuple[bool, int]:
    """(whether reruns still run, reruns still to ask) in the confirmation study: every new trial took a rerun;
    a retry (WAITING) carries the rerun of the stale trial it replaces."""
    trials = study.get_trials(deepcopy=False)
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    return any(t.state == TrialState.RUNNING for t in trials), n_reruns - sum(not is_retry(t) for t in trials) + waiting


def ask_rerun(study: optuna.Study, n_reruns: int) -> tuple[optuna.Trial, int] | None:
    """A trial of the confirmation study and the rerun it stands for: a retried trial keeps its rerun; a new
    one takes the next rerun, by its place among the new trials (numbers come from the storage, once)."""
    trial = ask(study)
    frozen = stored_trial(study, trial)
    if is_retry(frozen):
        return trial, frozen.user_attrs[RERUN_ATTR]
    index = sum(t.number < trial.number and not is_retry(t) for t in study.get_trials(deepcopy=False))
    if index >= n_reruns:
        trial.set_user_attr(NOT_RUN_ATTR, "asked beyond the reruns by workers asking at the same moment")
        study.tell(trial, state=TrialState.FAIL)
        return None
    trial.set_user_attr(RERUN_ATTR, index)
    trial.set_user_attr(WORKER_ATTR, WORKER)
    return trial, index


@contextmanager
def sweep_dir_lock(sweep_dir: Path) -> Iterator[None]:
    with open(sweep_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def next_job_number(sweep_dir: Path) -> int:
    """Numbering goes on after the job dirs already there, so none is overwritten."""
    numbers = [int(path.name) for path in sweep_dir.iterdir() if path.is_dir() and path.name.isdigit()]
    return max(numbers, default=-1) + 1


def claim_job_numbers(sweep_dir: Path, count: int) -> int:
    """Make the next ``count`` job dirs (empty; Hydra fills them) and return the first number: workers sharing a
    sweep dir never write into one job dir. Hydra names job dirs ``${hydra.job.num}`` by default."""
    with sweep_dir_lock(sweep_dir):
        first = next_job_number(sweep_dir)
        for number in range(first, first + count):
            (sweep_dir / str(number)).mkdir()
    return first


class TrialSeededSampler(BaseSampler):
    """A seeded sampler, reseeded for each trial with seed + trial number.

    Workers started with one command share its seed: seeded once, they would all suggest the same first
    parameters. Seeded per trial number (which the storage hands out once), each trial gets its own draws, on
    any worker, and a resumed search goes on where it stopped instead of repeating its first suggestions.
    Every sampler here keeps its state across trials in the study, not in the object, except for its RNG.
    """

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make, self._seed = make, seed
        self._sampler = make(seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._make(self._seed + trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, name: str, distribution: Any) -> Any:
        return self._sampler.sample_independent(study, trial, name, distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()

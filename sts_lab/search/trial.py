"""The job side of an Optuna search: find this job's trial in the storage, report dev Spearman to it at every
evaluation, stop training when the pruner says so, and keep the trial's heartbeat while the job runs.

The sweeper hands each trial job ``+search.study=NAME +search.trial=NUMBER``; the storage URL and the pruner
come from the job's own Hydra config (``hydra.sweeper``), so a password in an environment variable never
becomes an override, and a job on another machine finds its trial the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from transformers import TrainerCallback

from sts_lab.errors import StsLabError
from sts_lab.names import (
    PRUNABLE_OBJECTIVES, SECONDS_ATTR, STEPS_ATTR, dev_scores, objective_names, storage_url,
)
from sts_lab.search.compat import trial_id
from sts_lab.search.storage import beating, open_storage


class TrialCallback(TrainerCallback):
    """Reports dev Spearman at each evaluation (Optuna step = training step); raises TrialPruned when pruned.

    Raising from ``on_evaluate`` stops training at once; the evaluation is already in the trainer's log
    history, so the job keeps its dev curve up to the pruned step.
    """

    def __init__(self, trial: optuna.Trial, report: bool) -> None:
        self.trial, self.report = trial, report

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        scores = dev_scores(metrics or {})
        self.trial.set_user_attr(STEPS_ATTR, state.global_step)
        if scores is None or not self.report:
            return
        value = scores[0]
        self.trial.report(value, state.global_step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {state.global_step} with dev Spearman {value:.4f}")

    def on_train_end(self, args, state, control, **kwargs) -> None:
        self.trial.set_user_attr(STEPS_ATTR, state.global_step)


def load_trial(cfg: DictConfig) -> tuple[optuna.Trial, Any]:
    """This job's running trial and its storage, from the study and storage of the sweeper that launched it."""
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    url = storage_url(sweeper.storage, hydra_cfg.sweep.dir, launch_dir=hydra_cfg.runtime.cwd)
    storage = open_storage(url, sweeper.heartbeat_interval, sweeper.grace_period, sweeper.get("max_retry"))
    study = optuna.load_study(study_name=cfg.search.study, storage=storage, pruner=instantiate(sweeper.pruner))
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(cfg.search.study), cfg.search.trial)
    return optuna.Trial(study, trial_id), storage


@contextmanager
def trial_callbacks(cfg: DictConfig) -> Iterator[list[TrainerCallback]]:
    """The trainer callbacks of a search trial (none for any other job), with its heartbeat kept meanwhile."""
    search = cfg.get("search")
    if not search or search.get("trial") is None:
        yield []
        return
    objectives = objective_names(cfg.objective)
    try:
        trial, storage = load_trial(cfg)
    except KeyError as error:  # no such study or trial in this storage
        raise StsLabError(f"search.study={search.study!r} search.trial={search.trial}: not in the storage ({error})") from None
    started = time.perf_counter()
    try:
        with beating(storage, [trial_id(trial)]):
            yield [TrialCallback(trial, report=len(objectives) == 1 and objectives[0] in PRUNABLE_OBJECTIVES)]
    finally:
        trial.set_user_attr(SECONDS_ATTR, round(time.perf_counter() - started, 1))

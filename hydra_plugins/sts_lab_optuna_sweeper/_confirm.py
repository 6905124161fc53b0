"""Confirmation reruns: each study's best configuration rerun with every seed of ``confirm_seeds``, as ordinary
jobs of the sweep (a best-of-N dev score is biased upward; these reruns are what the sweep report compares).

The reruns of study NAME's trial N are handed out through a study of their own, ``NAME-confirm-N``: workers
sharing the search run each once, a dead worker's rerun is retried like a trial, rerunning the command resumes
them, and a new best after a resume (a larger ``n_trials``) gets reruns of its own while those of the older
best stay on disk (the report shows only the current best's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._workers import ask_rerun, rerun_slots
from sts_lab.names import confirm_study_name

log = logging.getLogger(__name__)


@dataclass
class Reruns:
    """The confirmation study of one search study's best trial, and the overrides of its reruns, seed by seed."""

    study: optuna.Study
    overrides: list[tuple[str, ...]]

    def slots(self) -> tuple[bool, int]:
        """(whether reruns still run, reruns still to ask), once a dead worker's reruns are failed and queued."""
        optuna.storages.fail_stale_trials(self.study)
        return rerun_slots(self.study, len(self.overrides))


def plan_reruns(studies: Sequence[optuna.Study], fixed: Sequence[str], grid_overrides: Sequence[Sequence[str]],
                seeds: Sequence[int], storage, directions: list[str], trial_overrides) -> list[Reruns]:
    """One ``Reruns`` per study that has a complete trial; ``trial_overrides(trial)`` gives its searched values."""
    plans = []
    for study, point in zip(studies, grid_overrides):
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.warning("Study %s has no complete trial: nothing to rerun", study.study_name)
            continue
        best = study.best_trial
        confirm = optuna.create_study(study_name=confirm_study_name(study.study_name, best.number), storage=storage,
                                      directions=directions, load_if_exists=True)
        plans.append(Reruns(confirm, [
            (*fixed, *point, *trial_overrides(best), f"seed={seed}", f"+search.study={study.study_name}",
             f"+search.rerun_of={best.number}")
            for seed in seeds
        ]))
    return plans


def next_reruns(plans: Sequence[Reruns], size: int) -> list[tuple[Reruns, optuna.Trial, int]]:
    """Up to ``size`` reruns, one per study and the studies with the fewest reruns first, so an interrupted rerun
    phase leaves every study with as many seeds."""
    free = {id(plan): plan.slots()[1] for plan in plans}  # one look at each storage per batch
    open_plans = sorted((plan for plan in plans if free[id(plan)] > 0), key=lambda plan: len(plan.overrides) - free[id(plan)])
    asked = []
    for plan in open_plans[:size]:
        if (rerun := ask_rerun(plan.study, len(plan.overrides))) is not None:
            asked.append((plan, *rerun))
    return asked

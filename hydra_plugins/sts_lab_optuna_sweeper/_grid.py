"""``sampler=grid``: every point of the grid once, then the search ends, as the official plugin does it.

The grid is built from ``params``: each ``choice(...)`` and each stepped numeric param (``range(...)``,
``int(interval(...))``), whose stop the grid excludes, like the official plugin and Hydra's own ``range``
(elsewhere Optuna's distributions include it). ``n_trials`` is capped at the grid's size.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._search_space import SearchSpace, rounded
from sts_lab.errors import StsLabError
from sts_lab.names import ERROR_ATTR


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, with two changes for a search of asked trials shared by workers:

    - the seed shuffles the grid once (the same on every worker, as grid ids index it) and then picks among the
      unvisited points with seed + trial number, so workers started with one seed do not all pick the same;
    - no ``study.stop()`` when the grid is exhausted: that works only inside ``Study.optimize`` (it raises under
      ask and tell); the sweeper stops at ``n_trials``, capped at the grid size.
    """

    def __init__(self, search_space: dict[str, list[Any]], seed: int | None = None) -> None:
        super().__init__(search_space, seed=seed)
        self._seed = seed

    def before_trial(self, study: optuna.Study, trial: Any) -> None:
        if self._seed is not None:
            self._rng.rng.seed(self._seed + trial.number)
        super().before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: Any, state: TrialState, values: Any) -> None:
        pass


def is_grid(sampler_cfg: Any) -> bool:
    return str(sampler_cfg._target_).endswith("GridSampler")


def grid_values(key: str, distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if getattr(distribution, "step", None) is not None and not distribution.log:
        count = round((distribution.high - distribution.low) / distribution.step)  # the stop excluded
        return [rounded(distribution.low + index * distribution.step, distribution) for index in range(count)]
    raise StsLabError(f"hydra.sweeper.sampler=grid: {key} is continuous; use choice(...) or range(...)")


def grid_of(space: SearchSpace) -> dict[str, list[Any]]:
    """The GridSampler's space: every value of each categorical or stepped param."""
    return {key: grid_values(key, distribution) for key, distribution in space.distributions.items()}


def grid_size(grid: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in grid.values())


def point(trial: Any, grid: dict[str, list[Any]]) -> tuple:
    return tuple(trial.params.get(key) for key in grid)


def grid_progress(study: optuna.Study, grid: dict[str, list[Any]], first_trial: int) -> tuple[set, set, list]:
    """(points done, points running or queued, the grid's trials). A point is done once a trial of it finished,
    or failed in this run (trials numbered from ``first_trial``): a point that failed in an earlier run (a wrong
    path since fixed) is run again, one that fails now is not retried within this run."""
    trials = [t for t in study.get_trials(deepcopy=False) if set(grid) <= set(t.params)]
    done = {point(t, grid) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs and t.number >= first_trial)}
    live = {point(t, grid) for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)}
    return done, live, trials


def grid_open(study: optuna.Study, grid: dict[str, list[Any]], first_trial: int) -> int:
    """How many grid points are neither done nor running: the most the search may still ask."""
    done, live, _ = grid_progress(study, grid, first_trial)
    return grid_size(grid) - len(done | live)


def retry_failed_point(study: optuna.Study, grid: dict[str, list[Any]], first_trial: int) -> None:
    """Once every grid point has been asked, queue a point that is not done (it failed in an earlier run):
    Optuna's grid sampler counts a failed point as visited and would draw a finished one instead."""
    done, live, trials = grid_progress(study, grid, first_trial)
    if len({point(t, grid) for t in trials}) < grid_size(grid):
        return  # the grid sampler still has unasked points
    for trial in trials:
        if trial.state == TrialState.FAIL and point(trial, grid) not in done | live:
            study.enqueue_trial({key: trial.params[key] for key in grid})
            return

"""The search behind ``hydra/sweeper=optuna``: one Optuna study per value of the outer grid, trials asked in
batches of ``n_jobs``, launched as Hydra jobs, told back; then the best configurations rerun with new seeds.

Ask/tell rather than ``Study.optimize``: each trial is a Hydra job that the configured launcher may run in
another process or on another machine, and its outcome comes back as a ``JobReturn``.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._outputs import write_plots, write_results
from hydra_plugins.sts_lab_optuna_sweeper._search_space import SearchSpace, parse_overrides, search_space
from hydra_plugins.sts_lab_optuna_sweeper._workers import (
    NOT_RUN_ATTR, WORKER, WORKER_ATTR, TrialSeededSampler, ask, ask_rerun, beyond_budget, claim_job_numbers,
    free_slots, rerun_slots,
)
from sts_lab import secrets
from sts_lab.errors import StsLabError
from sts_lab.storage import CONFIRM_SUFFIX, DEFAULT_STUDY_NAME, beating, open_storage, storage_url
from sts_lab.trial import PRUNABLE_OBJECTIVES

log = logging.getLogger(__name__)
# A waiting worker's poll is one query of the study's trials: cheap, and it ends (or takes a retry) within a second.
POLL_SECONDS = 1.0

ERROR_ATTR = "error"  # user attribute of a trial whose job raised or returned NaN (not of heartbeat failures)
JOB_DIR_ATTR = "job_dir"
OVERRIDES_ATTR = "overrides"  # study user attribute: the fixed and grid overrides of all its trials
SPACE_ATTR = "search_space"  # study user attribute: the searched params, as Optuna distributions in JSON
DIRECTIONS = ("maximize", "minimize")


@dataclass
class GridPoint:
    """One study of the outer grid: its name and the overrides that fix the grid keys (``loss=cosine``)."""

    study_name: str
    overrides: list[str]


def grid_points(grid_params: dict[str, Any] | None, study_name: str) -> list[GridPoint]:
    """``{"loss": "cosine,cosent"}`` or ``{"loss": ["cosine", "cosent"]}`` -> studies ``NAME-cosine`` and
    ``NAME-cosent``, with ``loss=cosine`` and ``loss=cosent``; one study without a grid."""
    if not grid_params:
        return [GridPoint(study_name, [])]
    as_text = {key: ",".join(map(str, value)) if isinstance(value, list) else str(value) for key, value in grid_params.items()}
    values = []
    for override in parse_overrides([f"{key}={value}" for key, value in as_text.items()]):
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


def key_of(override: str) -> str:
    return parse_overrides([override])[0].get_key_element().lstrip("~+")


class OptunaSearch:
    def __init__(
        self, sampler: DictConfig, pruner: DictConfig, direction: Any, storage: str | None, study_name: str | None,
        n_trials: int, n_jobs: int, max_failure_rate: float, params: DictConfig | None,
        custom_search_space: str | None, search_space: Any, grid_params: DictConfig | None,
        confirm_seeds: Sequence[int] | None, heartbeat_interval: int | None, grace_period: int | None,
    ) -> None:
        if search_space:
            raise StsLabError("hydra.sweeper.search_space: the deprecated form is not supported; use hydra.sweeper.params")
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.directions = [direction] if isinstance(direction, str) else list(direction)
        self.storage, self.study_name = storage, study_name or DEFAULT_STUDY_NAME
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params = OmegaConf.to_container(params) if params else {}
        self.custom_search_space = get_method(custom_search_space) if custom_search_space else None
        self.grid_params = OmegaConf.to_container(grid_params) if grid_params else {}
        self.confirm_seeds = list(confirm_seeds or [])
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period

    # Hydra's Sweeper interface ------------------------------------------------------------------------------

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        secrets.install()
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        space = search_space(self.params, arguments)
        self.check(space)
        points = grid_points(self.grid_params, self.study_name)
        # The storage and its studies are checked before anything is written (a bad URL, refused credentials,
        # a study of the same name with another direction or search space); only the default SQLite file
        # needs the sweep dir first.
        if not self.storage:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.rdb = open_storage(storage_url(self.storage, self.sweep_dir), self.heartbeat_interval, self.grace_period)
        studies = [self.open_study(self.rdb, point, space) for point in points]
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        (self.sweep_dir / "multirun.yaml").write_text(secrets.mask(OmegaConf.to_yaml(self.config)), encoding="utf-8")
        # Jobs find their trial through hydra.sweeper.storage. The default (sqlite in the sweep dir) is handed to
        # them as a path: a job resolving a timestamped sweep dir itself may get another second. A configured
        # URL is not: each job resolves it as written (${oc.env:...}), so no password becomes an override.
        self.job_storage = [] if self.storage else [f"hydra.sweeper.storage='{storage_url(None, self.sweep_dir)}'"]
        returns = self.optimize(studies, points, space)
        for study in studies:
            write_plots(study, self.sweep_dir, len(points) > 1)
        if self.confirm_seeds:
            returns += self.confirm(studies, points, space)
        return returns

    # Checks -------------------------------------------------------------------------------------------------

    def objectives(self) -> list[str]:
        objective = self.config.objective
        return [objective] if isinstance(objective, str) else list(objective)

    def check(self, space: SearchSpace) -> None:
        """Refuse, naming the key, a search that cannot run as configured (before any job starts)."""
        def require(condition: bool, key: str, rule: str) -> None:
            if not condition:
                raise StsLabError(f"hydra.sweeper.{key}: {rule}")

        require(self.n_trials >= 1, "n_trials", f"must be >= 1, got {self.n_trials}")
        require(self.n_jobs >= 1, "n_jobs", f"must be >= 1, got {self.n_jobs}")
        require(0 <= self.max_failure_rate <= 1, "max_failure_rate", f"must be in [0, 1], got {self.max_failure_rate}")
        require(all(d in DIRECTIONS for d in self.directions), "direction", f"must be maximize or minimize, got {self.directions}")
        objectives = self.objectives()
        require(len(self.directions) == len(objectives), "direction",
                f"{len(self.directions)} direction(s) for {len(objectives)} objective(s) {objectives}: give one per objective")
        pruning = not self.pruner_cfg._target_.endswith("NopPruner")
        require(not pruning or len(objectives) == 1, "pruner", "Optuna prunes single-objective studies only; use pruner=none")
        require(not pruning or objectives[0] in PRUNABLE_OBJECTIVES, "pruner",
                f"trials report dev Spearman at each evaluation, which can prune objective={objectives} only if it is one of "
                f"{list(PRUNABLE_OBJECTIVES)}")
        require(not self.confirm_seeds or len(objectives) == 1, "confirm_seeds",
                "reruns the best trial, which several objectives do not define")
        clash = {key_of(f"{key}=x") for key in self.grid_params} & {key_of(f"{key}=x") for key in space.distributions}
        require(not clash, "grid_params", f"{sorted(clash)} both searched and in the outer grid")

    def open_study(self, storage: Any, point: GridPoint, space: SearchSpace) -> optuna.Study:
        """Create the study, or load it to resume or to join other workers (created once, however many workers
        start at the same moment); one with other directions or another search space is refused."""
        study = optuna.create_study(
            study_name=point.study_name, storage=storage, pruner=instantiate(self.pruner_cfg),
            directions=self.directions, load_if_exists=True,
        )
        existing = [d.name.lower() for d in study.directions]
        if existing != self.directions:
            raise StsLabError(f"hydra.sweeper.direction={self.directions}: study {point.study_name!r} in this storage "
                              f"has direction {existing}; use another study_name or storage")
        searched = {key: optuna.distributions.distribution_to_json(d) for key, d in space.distributions.items()}
        if (before := study.user_attrs.get(SPACE_ATTR)) is not None and before != searched:
            raise StsLabError(f"hydra.sweeper.params: study {point.study_name!r} in this storage searched another space: "
                              f"{space_difference(before, searched)}; use another study_name or the same params")
        study.set_user_attr(SPACE_ATTR, searched)
        # For custom_search_space functions: the overrides every trial of this study gets (``loss=cosine``, ...).
        study.set_user_attr(OVERRIDES_ATTR, [*space.fixed, *point.overrides])
        study.sampler = self.sampler(space)
        return study

    def sampler(self, space: SearchSpace) -> optuna.samplers.BaseSampler:
        sampler_cfg = self.sampler_cfg
        if sampler_cfg._target_.endswith("GridSampler") and sampler_cfg.get("search_space") is None:
            sampler_cfg = OmegaConf.merge(sampler_cfg, {"search_space": grid_of(space)})
        seed = sampler_cfg.get("seed")
        if seed is None or sampler_cfg._target_.endswith("QMCSampler"):  # QMC's seed fixes its one sequence
            return instantiate(sampler_cfg)
        return TrialSeededSampler(lambda trial_seed: instantiate(sampler_cfg, seed=trial_seed), seed)

    # Trials -------------------------------------------------------------------------------------------------

    def optimize(self, studies: Sequence[optuna.Study], points: Sequence[GridPoint], space: SearchSpace) -> list[JobReturn]:
        """Ask, launch and tell batches until every study holds n_trials finished trials, counting the trials of
        all workers. A worker with nothing left to ask waits while others run the last trials: if one of them
        dies, its trial goes stale and is retried here."""
        returns = []
        while True:
            open_studies = 0
            for study, point in zip(studies, points):
                optuna.storages.fail_stale_trials(study)  # a dead worker's trials: failed, retried as WAITING
                finished, free = free_slots(study, self.n_trials)
                open_studies += finished < self.n_trials
                if free > 0:
                    returns += self.run_batch(study, point, space, min(self.n_jobs, free), studies)
                    break
            else:
                if not open_studies:
                    return returns
                time.sleep(POLL_SECONDS)

    def run_batch(self, study: optuna.Study, point: GridPoint, space: SearchSpace, size: int,
                  studies: Sequence[optuna.Study]) -> list[JobReturn]:
        trials = []
        for _ in range(size):
            trial = ask(study, space.distributions)  # a WAITING trial (a retry) first, else a new one
            trial.set_user_attr(WORKER_ATTR, WORKER)
            if beyond_budget(study, trial, self.n_trials):
                trial.set_user_attr(NOT_RUN_ATTR, "asked beyond n_trials by workers asking at the same moment")
                study.tell(trial, state=TrialState.FAIL)
                break
            trials.append(trial)
        if not trials:
            return []
        overrides = []
        for trial in trials:
            if self.custom_search_space is not None:
                self.custom_search_space(self.config, trial)
            overrides.append(tuple([
                *space.fixed, *point.overrides, *(f"{key}={value}" for key, value in trial.params.items()),
                f"+search.study={point.study_name}", f"+search.trial={trial.number}", *self.job_storage,
            ]))
        log.info("Study %s: trials %s of %d", point.study_name, [t.number for t in trials], self.n_trials)
        batch = self.launch(overrides, [trial._trial_id for trial in trials])
        for trial, job in zip(trials, batch):
            self.tell(study, trial, job)
        write_results(studies, self.sweep_dir)
        self.check_failures(study, batch)
        return batch

    def launch(self, overrides: list[tuple[str, ...]], trial_ids: Sequence[int] = ()) -> list[JobReturn]:
        """Launch one batch in job dirs no other worker writes; the trials' heartbeats are kept while it runs,
        also while a cluster job waits in a queue."""
        first = claim_job_numbers(self.sweep_dir, len(overrides))
        with beating(self.rdb, trial_ids):
            return list(self.launcher.launch(overrides, initial_job_idx=first))

    def tell(self, study: optuna.Study, trial: optuna.Trial, job: JobReturn) -> None:
        if job.hydra_cfg is not None:
            trial.set_user_attr(JOB_DIR_ATTR, str(job.hydra_cfg.hydra.runtime.output_dir))
        if job.status == JobStatus.FAILED:
            error = job._return_value
            if isinstance(error, optuna.TrialPruned):
                study.tell(trial, state=TrialState.PRUNED)
                log.info("Trial %d pruned: %s", trial.number, error)
                return
            self.fail(study, trial, f"{type(error).__name__}: {error}")
            return
        values = job.return_value if isinstance(job.return_value, (list, tuple)) else [job.return_value]
        if len(values) != len(self.directions) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            self.fail(study, trial, f"objective {self.objectives()} returned {values}: not {len(self.directions)} finite number(s)")
            return
        study.tell(trial, [float(value) for value in values])

    def fail(self, study: optuna.Study, trial: optuna.Trial, error: str) -> None:
        trial.set_user_attr(ERROR_ATTR, error.splitlines()[0] if error else "")
        study.tell(trial, state=TrialState.FAIL)
        log.error("Trial %d failed: %s", trial.number, error)

    def check_failures(self, study: optuna.Study, batch: Sequence[JobReturn]) -> None:
        """Up to max_failure_rate x n_trials failed trials are tolerated (the study asks new ones instead); one
        more stops the search with the failed job's own error."""
        failed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if ERROR_ATTR in t.user_attrs]
        if len(failed) > self.max_failure_rate * self.n_trials:
            log.error("Study %s: %d trials failed, more than hydra.sweeper.max_failure_rate=%s x n_trials=%d: stopping",
                      study.study_name, len(failed), self.max_failure_rate, self.n_trials)
            for job in batch:
                if job.status == JobStatus.FAILED and not isinstance(job._return_value, optuna.TrialPruned):
                    job.return_value  # raises the job's exception
            raise StsLabError(f"Study {study.study_name}: trial {failed[-1].number} failed: {failed[-1].user_attrs[ERROR_ATTR]}")

    # Confirmation reruns ------------------------------------------------------------------------------------

    def confirm(self, studies: Sequence[optuna.Study], points: Sequence[GridPoint], space: SearchSpace) -> list[JobReturn]:
        """Rerun each study's best trial with every seed of confirm_seeds, as ordinary jobs of the sweep (a
        best-of-N dev score is biased upward; these reruns are what the sweep report compares).

        The reruns are handed out through a study of their own, so workers sharing the search run each once, a
        dead worker's rerun is retried like a trial, and rerunning the command resumes them.
        """
        reruns = self.reruns(studies, points, space)
        study = optuna.create_study(study_name=f"{self.study_name}{CONFIRM_SUFFIX}", storage=self.rdb,
                                    directions=self.directions, load_if_exists=True)
        log.info("Confirmation reruns: %d jobs (seeds %s)", len(reruns), self.confirm_seeds)
        returns = []
        while True:
            optuna.storages.fail_stale_trials(study)
            running, free = rerun_slots(study, len(reruns))
            if free <= 0:
                if not running:
                    return returns
                time.sleep(POLL_SECONDS)
                continue
            asked = [asked for _ in range(min(self.n_jobs, free)) if (asked := ask_rerun(study, len(reruns)))]
            if not asked:
                continue
            batch = self.launch([reruns[index] for _, index in asked], [trial._trial_id for trial, _ in asked])
            for (trial, _), job in zip(asked, batch):
                self.tell(study, trial, job)
            returns += batch

    def reruns(self, studies: Sequence[optuna.Study], points: Sequence[GridPoint], space: SearchSpace) -> list[tuple[str, ...]]:
        """The rerun jobs' overrides, seed by seed, so an interrupted rerun phase leaves every study with as
        many seeds."""
        fixed = [override for override in space.fixed if key_of(override) != "seed"]
        best = {}
        for study, point in zip(studies, points):
            if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                best[point.study_name] = (point, study.best_trial)
            else:
                log.warning("Study %s has no complete trial: nothing to rerun", point.study_name)
        return [
            (*fixed, *point.overrides, *(f"{key}={value}" for key, value in trial.params.items()), f"seed={seed}",
             f"+search.study={point.study_name}", f"+search.rerun_of={trial.number}")
            for seed in self.confirm_seeds
            for point, trial in best.values()
        ]


def grid_of(space: SearchSpace) -> dict[str, list[Any]]:
    """The GridSampler's space when none is configured: every value of each categorical or stepped param."""
    grid = {}
    for key, distribution in space.distributions.items():
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            grid[key] = list(distribution.choices)
        elif distribution.step is not None and not distribution.log:
            steps = round((distribution.high - distribution.low) / distribution.step)
            grid[key] = [distribution.low + index * distribution.step for index in range(steps + 1)]
        else:
            raise StsLabError(f"hydra.sweeper.sampler=grid: {key} is continuous; use choice(...) or range(...), or set "
                              "hydra.sweeper.sampler.search_space")
    return grid


def space_difference(before: dict[str, str], now: dict[str, str]) -> str:
    """Which searched params differ between two spaces (``{key: distribution JSON}``), in words."""
    differences = []
    for key in sorted(before.keys() | now.keys()):
        if key not in before:
            differences.append(f"{key} added")
        elif key not in now:
            differences.append(f"{key} removed")
        elif before[key] != now[key]:
            differences.append(f"{key} changed (was {before[key]}, now {now[key]})")
    return "; ".join(differences)

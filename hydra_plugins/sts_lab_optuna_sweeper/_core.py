"""The search behind ``hydra/sweeper=optuna``: one Optuna study per value of the outer grid, trials asked in
batches of ``n_jobs``, launched as Hydra jobs, told back; then the best configurations rerun with new seeds.

Ask/tell rather than ``Study.optimize``: each trial is a Hydra job that the configured launcher may run in
another process or on another machine, and its outcome comes back as a ``JobReturn``. Any Hydra app can be
searched: the objective is what its task function returns (sts_lab's returns the metric named by ``objective``).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._checks import OVERRIDES_ATTR, SearchChecks
from hydra_plugins.sts_lab_optuna_sweeper._confirm import next_reruns, plan_reruns
from hydra_plugins.sts_lab_optuna_sweeper._grid import (
    GridSampler, grid_of, grid_open, grid_size, is_grid, retry_failed_point,
)
from hydra_plugins.sts_lab_optuna_sweeper._outputs import write_plots, write_results
from hydra_plugins.sts_lab_optuna_sweeper._compat import job_error, trial_id
from hydra_plugins.sts_lab_optuna_sweeper._search_space import SearchSpace, search_space, space_difference, trial_overrides
from hydra_plugins.sts_lab_optuna_sweeper._workers import (
    WORKER, TrialSeededSampler, ask, beat_silent_trials, beyond_budget, claim_job_numbers, free_slots,
    requeue_interrupted,
)
from sts_lab import secrets
from sts_lab.errors import StsLabError, first_line
from sts_lab.names import (
    DEFAULT_STUDY_NAME, ERROR_ATTR, JOB_DIR_ATTR, MULTIRUN_FILE, NOT_RUN_ATTR, WORKER_ATTR, GridPoint, grid_points,
    storage_url,
)
from sts_lab.overrides import override_key as key_of
from sts_lab.search.storage import beating, open_storage

log = logging.getLogger(__name__)
# A waiting worker's poll is one query of the study's trials: cheap, and it ends (or takes a retry) within a second.
POLL_SECONDS = 1.0

SPACE_ATTR = "search_space"  # study user attribute: the searched params, as Optuna distributions in JSON


def running(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


class OptunaSearch(SearchChecks):
    def __init__(
        self, sampler: DictConfig, pruner: DictConfig, direction: Any, storage: str | None, study_name: str | None,
        n_trials: int, n_jobs: int, max_failure_rate: float, params: DictConfig | None,
        custom_search_space: str | None, search_space: Any, grid_params: DictConfig | None,
        confirm_seeds: Sequence[int] | None, heartbeat_interval: int | None, grace_period: int | None,
        max_retry: int | None = 2,
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
        self.heartbeat_interval, self.grace_period, self.max_retry = heartbeat_interval, grace_period, max_retry

    # Hydra's Sweeper interface ------------------------------------------------------------------------------

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        secrets.install()
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.launch_dir = Path(OmegaConf.select(config, "hydra.runtime.cwd") or os.getcwd())
        self.sweep_dir = self.launch_dir / config.hydra.sweep.dir

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        space = search_space(self.params, arguments)
        self.check(space)
        points = grid_points(self.grid_params, self.study_name)
        for point in points:
            self.check_custom_space(point, space)
        self.grid = grid_of(space) if is_grid(self.sampler_cfg) else None
        if self.grid is not None and self.n_trials > grid_size(self.grid):
            log.info("hydra.sweeper.n_trials=%d capped at the grid's %d points", self.n_trials, grid_size(self.grid))
            self.n_trials = grid_size(self.grid)
        log.info("Direction %s (hydra.sweeper.direction; maximize unless set, the official plugin's default is minimize)",
                 self.directions)
        # The storage and its studies are checked before anything is written (a bad URL, refused credentials,
        # a study of the same name with another direction or search space); only the default SQLite file
        # needs the sweep dir first.
        if not self.storage:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
        url = storage_url(self.storage, self.sweep_dir, self.launch_dir)
        self.rdb = open_storage(url, self.heartbeat_interval, self.grace_period, self.max_retry)
        studies = [self.open_study(self.rdb, point, space) for point in points]
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        (self.sweep_dir / MULTIRUN_FILE).write_text(secrets.mask(OmegaConf.to_yaml(self.config)), encoding="utf-8")
        # Jobs find their trial through hydra.sweeper.storage. An SQLite file is handed to them as an absolute path
        # (a job resolving a timestamped sweep dir itself may get another second; with hydra.job.chdir=true a
        # relative one would be another file). Another URL is not: each job resolves it as written
        # (${oc.env:...}), so no password becomes an override.
        self.job_storage = [f"hydra.sweeper.storage='{url}'"] if url.startswith("sqlite") else []
        self.first_trial = {study.study_name: len(study.get_trials(deepcopy=False)) for study in studies}
        returns = self.optimize(studies, points, space)
        for study in studies:
            write_plots(study, self.sweep_dir, len(points) > 1)
        if self.confirm_seeds:
            returns += self.confirm(studies, points, space)
        return returns

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
        alive = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if alive and not self.heartbeat_interval:
            raise StsLabError(f"hydra.sweeper.heartbeat_interval=null: study {point.study_name!r} holds RUNNING trials "
                              f"{[t.number for t in alive]} and without heartbeats a dead search's trial cannot be told "
                              "from a live one (the search would wait for it forever); resume with heartbeats on (the "
                              "default): a trial silent for grace_period is failed and retried")
        if alive:
            beat_silent_trials(study, alive)
        study.set_user_attr(SPACE_ATTR, searched)
        # For custom_search_space functions: the overrides every trial of this study gets (``loss=cosine``, ...).
        study.set_user_attr(OVERRIDES_ATTR, [*space.fixed, *point.overrides])
        study.sampler = self.sampler(space)
        return study

    def sampler(self, space: SearchSpace) -> optuna.samplers.BaseSampler:
        sampler_cfg = self.sampler_cfg
        if is_grid(sampler_cfg):
            sampler_cfg = OmegaConf.merge(sampler_cfg, {"_target_": f"{GridSampler.__module__}.GridSampler",
                                                        "search_space": grid_of(space)})
        seed = sampler_cfg.get("seed")
        # QMC's seed fixes its one sequence; the grid's fixes the order of its points (it reseeds per trial itself).
        if seed is None or sampler_cfg._target_.endswith(("QMCSampler", "GridSampler")):
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
                complete = finished >= self.n_trials
                if self.grid is not None:  # a grid also ends once each point is done, failed ones included
                    left = grid_open(study, self.grid, self.first_trial[study.study_name])
                    free, complete = min(free, left), complete or (left <= 0 and not running(study))
                open_studies += not complete
                if free > 0:
                    returns += self.run_batch(study, point, space, min(self.n_jobs, free), studies)
                    break
            else:
                if not open_studies:
                    return returns
                time.sleep(POLL_SECONDS)

    def run_batch(self, study: optuna.Study, point: GridPoint, space: SearchSpace, size: int,
                  studies: Sequence[optuna.Study]) -> list[JobReturn]:
        trials, overrides = [], []
        for _ in range(size):
            if self.grid is not None:
                retry_failed_point(study, self.grid, self.first_trial[study.study_name])
            trial = ask(study, space.distributions)  # a WAITING trial (a retry) first, else a new one
            trial.set_user_attr(WORKER_ATTR, WORKER)
            if beyond_budget(study, trial, self.n_trials):
                trial.set_user_attr(NOT_RUN_ATTR, "asked beyond n_trials by workers asking at the same moment")
                study.tell(trial, state=TrialState.FAIL)
                break
            try:
                searched = self.suggest(study, trial, point, space)
            except StsLabError:
                for asked in trials:
                    asked.set_user_attr(NOT_RUN_ATTR, "the search was refused before its job started")
                    study.tell(asked, state=TrialState.FAIL)
                raise
            if searched is not None:
                trials.append(trial)
                overrides.append((*space.fixed, *point.overrides, *searched, f"+search.study={point.study_name}",
                                  f"+search.trial={trial.number}", *self.job_storage))
        batch = []
        if trials:
            log.info("Study %s: trials %s of %d", point.study_name, [t.number for t in trials], self.n_trials)
            try:
                batch = self.launch(overrides, [trial_id(trial) for trial in trials])
            except KeyboardInterrupt:
                for trial in trials:
                    requeue_interrupted(study, trial)
                raise
            for trial, job in zip(trials, batch):
                self.tell(study, trial, job)
        write_results(studies, self.sweep_dir)
        self.check_failures(study, batch)
        return batch

    def suggest(self, study: optuna.Study, trial: optuna.Trial, point: GridPoint, space: SearchSpace) -> list[str] | None:
        """The trial's searched values as overrides, conditional ones (``custom_search_space``) included; None
        when the custom space raised (the trial fails with its message)."""
        if self.custom_search_space is not None:
            try:
                self.custom_search_space(self.config, trial)
            except Exception as error:
                self.fail(study, trial, f"hydra.sweeper.custom_search_space: {type(error).__name__}: {error}")
                return None
            self.refuse_fixed_and_suggested(study, trial, point, space)
        return trial_overrides(trial.params, trial.distributions)

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
            error = job_error(job)
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
        trial.set_user_attr(ERROR_ATTR, first_line(error))
        study.tell(trial, state=TrialState.FAIL)
        log.error("Trial %d failed: %s", trial.number, error)

    def check_failures(self, study: optuna.Study, batch: Sequence[JobReturn]) -> None:
        """Up to max_failure_rate x n_trials failed trials of this run are tolerated (the study asks new ones
        instead); one more stops the search with the failed job's own error. Failures of an earlier run of the
        command (a wrong path since fixed) do not count."""
        failed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                  if ERROR_ATTR in t.user_attrs and t.number >= self.first_trial[study.study_name]]
        if len(failed) > self.max_failure_rate * self.n_trials:
            log.error("Study %s: %d trials failed, more than hydra.sweeper.max_failure_rate=%s x n_trials=%d: stopping",
                      study.study_name, len(failed), self.max_failure_rate, self.n_trials)
            for job in batch:
                if job.status == JobStatus.FAILED and not isinstance(job_error(job), optuna.TrialPruned):
                    job.return_value  # raises the job's exception
            raise StsLabError(f"Study {study.study_name}: trial {failed[-1].number} failed: {failed[-1].user_attrs[ERROR_ATTR]}")

    # Confirmation reruns (``_confirm``) ---------------------------------------------------------------------

    def confirm(self, studies: Sequence[optuna.Study], points: Sequence[GridPoint], space: SearchSpace) -> list[JobReturn]:
        fixed = [override for override in space.fixed if key_of(override) != "seed"]
        plans = plan_reruns(studies, fixed, [point.overrides for point in points], self.confirm_seeds, self.rdb,
                            self.directions, lambda trial: trial_overrides(trial.params, trial.distributions))
        log.info("Confirmation reruns: %d jobs (seeds %s)", sum(len(plan.overrides) for plan in plans), self.confirm_seeds)
        returns = []
        while True:
            asked = next_reruns(plans, self.n_jobs)
            if not asked:
                if not any(plan.slots()[0] for plan in plans):
                    return returns
                time.sleep(POLL_SECONDS)
                continue
            try:
                batch = self.launch([plan.overrides[index] for plan, _, index in asked], [trial_id(t) for _, t, _ in asked])
            except KeyboardInterrupt:
                for plan, trial, _ in asked:
                    requeue_interrupted(plan.study, trial)
                raise
            for (plan, trial, _), job in zip(asked, batch):
                self.tell(plan.study, trial, job)
            returns += batch

"""What the search refuses before any job starts, each in one line naming the key (``StsLabError``)."""

from __future__ import annotations

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hydra_plugins.sts_lab_optuna_sweeper._grid import is_grid
from hydra_plugins.sts_lab_optuna_sweeper._search_space import SearchSpace
from sts_lab.errors import StsLabError
from sts_lab.names import NOT_RUN_ATTR, PRUNABLE_OBJECTIVES, GridPoint, grid_points, objective_names
from sts_lab.overrides import override_key as key_of

DIRECTIONS = ("maximize", "minimize")
# sts_lab keys that change what a training step is: pruning compares trials at equal steps.
STEP_SIZE_KEYS = ("trainer.batch_size",)
OVERRIDES_ATTR = "overrides"  # study user attribute: the fixed and grid overrides of all its trials


class SearchChecks:
    """The checks of ``OptunaSearch`` (its fields: the sweeper's config)."""

    def objectives(self) -> list[str]:
        """``objective`` of an sts_lab config; an app without one has a single objective, its return value."""
        objective = OmegaConf.select(self.config, "objective", default=None)
        return ["return value"] if objective is None else objective_names(objective)

    def check(self, space: SearchSpace) -> None:
        """Refuse, naming the key, a search that cannot run as configured (before any job starts)."""
        def require(condition: bool, key: str, rule: str) -> None:
            if not condition:
                raise StsLabError(f"hydra.sweeper.{key}: {rule}")

        require(self.n_trials >= 1, "n_trials", f"must be >= 1, got {self.n_trials}")
        require(self.n_jobs >= 1, "n_jobs", f"must be >= 1, got {self.n_jobs}")
        require(0 <= self.max_failure_rate <= 1, "max_failure_rate", f"must be in [0, 1], got {self.max_failure_rate}")
        require(self.max_retry is None or self.max_retry >= 0, "max_retry", f"must be >= 0 or null, got {self.max_retry}")
        require(all(d in DIRECTIONS for d in self.directions), "direction", f"must be maximize or minimize, got {self.directions}")
        objectives = self.objectives()
        require(len(self.directions) == len(objectives), "direction",
                f"{len(self.directions)} direction(s) for {len(objectives)} objective(s) {objectives}: give one per objective")
        if not str(self.pruner_cfg._target_).endswith("NopPruner"):
            require(len(objectives) == 1, "pruner", "Optuna prunes single-objective studies only; use pruner=none")
            require(objectives[0] in PRUNABLE_OBJECTIVES, "pruner",
                    f"only sts_lab jobs report dev Spearman at each evaluation, which can prune objective={objectives} only "
                    f"if it is one of {list(PRUNABLE_OBJECTIVES)}; use pruner=none")
            searched = sorted(set(STEP_SIZE_KEYS) & set(space.distributions))
            require(not searched, "pruner", f"{searched} searched: trials report at training steps, which then hold "
                    "different amounts of data and cannot be compared; fix it or use pruner=none")
        require(not self.confirm_seeds or len(objectives) == 1, "confirm_seeds",
                "reruns the best trial, which several objectives do not define")
        require(not self.confirm_seeds or OmegaConf.select(self.config, "seed", default=None) is not None, "confirm_seeds",
                "reruns set `seed`, which this app's config does not have")
        require(not is_grid(self.sampler_cfg) or self.sampler_cfg.get("search_space") is None, "sampler.search_space",
                "not supported: the grid is built from hydra.sweeper.params (choice(...), range(...))")
        grid_keys = {key_of(point) for point in grid_points(self.grid_params, self.study_name)[0].overrides}
        clash = grid_keys & {key_of(f"{key}=x") for key in space.distributions}
        require(not clash, "grid_params", f"{sorted(clash)} both searched and in the outer grid")
        fixed = grid_keys & {key_of(override) for override in space.fixed}
        require(not fixed, "grid_params", f"{sorted(fixed)} both fixed on the command line and in the outer grid")

    def check_custom_space(self, point: GridPoint, space: SearchSpace) -> None:
        """Try ``custom_search_space`` on a throwaway in-memory trial, so a key it suggests that is also fixed is
        refused before any job (as the official plugin refuses the overlap); each real trial is checked again."""
        if self.custom_search_space is None:
            return
        probe = optuna.create_study(directions=self.directions, sampler=optuna.samplers.RandomSampler(seed=0))
        probe.set_user_attr(OVERRIDES_ATTR, [*space.fixed, *point.overrides])
        trial = probe.ask(space.distributions)
        try:
            self.custom_search_space(self.config, trial)
        except Exception:
            return  # each trial fails with its message
        self.refuse_fixed_and_suggested(probe, trial, point, space)

    def refuse_fixed_and_suggested(self, study: optuna.Study, trial: optuna.Trial, point: GridPoint,
                                   space: SearchSpace) -> None:
        fixed = {key_of(override): override for override in [*space.fixed, *point.overrides]}
        if overlap := sorted(set(fixed) & set(trial.params)):
            trial.set_user_attr(NOT_RUN_ATTR, f"{overlap} both fixed and suggested by custom_search_space")
            study.tell(trial, state=TrialState.FAIL)
            raise StsLabError(f"{overlap[0]}: fixed ({fixed[overlap[0]]}) and suggested by "
                              "hydra.sweeper.custom_search_space; drop one of them")


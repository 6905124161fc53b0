"""The sweeper Hydra finds at start-up: its config schema and a thin class. Light on imports on purpose.

Hydra imports every module under ``hydra_plugins`` on every start (also for ``--help``), so optuna and the
implementation (``_core``, skipped by Hydra's scan for its leading underscore) load only when a sweep runs.

The config surface is the official ``hydra-optuna-sweeper``'s, so a search written for it runs as it is, plus
``pruner``, ``grid_params``, ``confirm_seeds`` and the storage heartbeat.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional  # typing forms: OmegaConf reads these annotations

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, MISSING


# Samplers: the optuna.samplers classes with their own argument names ---------------------------------------
@dataclass
class TPESamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    consider_prior: Optional[bool] = None  # null: Optuna's default (these four are deprecated in Optuna 5)
    prior_weight: Optional[float] = None
    consider_magic_clip: Optional[bool] = None
    consider_endpoints: Optional[bool] = None
    n_startup_trials: int = 10  # random trials before TPE takes over
    n_ei_candidates: int = 24
    multivariate: bool = False
    group: bool = False
    constant_liar: bool = True  # spread the parameters of trials asked before the running ones finish
    warn_independent_sampling: Optional[bool] = None  # null: Optuna's default (deprecated in Optuna 5)


@dataclass
class RandomSamplerConfig:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class CmaEsSamplerConfig:
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None
    x0: Optional[Dict[str, Any]] = None
    sigma0: Optional[float] = None
    n_startup_trials: int = 1
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: Optional[str] = None
    popsize: Optional[int] = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False


@dataclass
class NSGAIISamplerConfig:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: Optional[int] = None
    population_size: int = 50
    mutation_prob: Optional[float] = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class GridSamplerConfig:
    _target_: str = "optuna.samplers.GridSampler"
    seed: Optional[int] = None
    search_space: Optional[Dict[str, Any]] = None  # must stay null: the grid is every value of the choice(...) and
    #                                                range(...) params (the stop excluded, as in the official plugin)


@dataclass
class GPSamplerConfig:
    _target_: str = "optuna.samplers.GPSampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    warn_independent_sampling: bool = True


@dataclass
class QMCSamplerConfig:
    _target_: str = "optuna.samplers.QMCSampler"
    seed: Optional[int] = None
    qmc_type: str = "sobol"
    scramble: bool = False
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


# Pruners: the optuna.pruners classes with their own argument names. A trial reports dev Spearman at every
# evaluation of the trainer (trainer.eval_steps), with the training step as Optuna's step. ------------------
@dataclass
class MedianPrunerConfig:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5  # trials that run in full before any is pruned
    n_warmup_steps: int = 0  # training steps before a trial can be pruned
    interval_steps: int = 1
    n_min_trials: int = 1  # trials that must have reported at a step before pruning at it


@dataclass
class PercentilePrunerConfig:
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0  # keep a trial only while it is in the top `percentile` % of the finished trials at
    #                           the same step (Optuna's meaning: 25 keeps the top quarter; the median pruner is 50)
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConfig:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"  # training steps of the first rung; auto: from the first finished trial
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class NopPrunerConfig:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.sts_lab_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    _recursive_: bool = False  # sampler and pruner arrive as configs: each job instantiates the pruner too
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])

    sampler: Any = MISSING
    pruner: Any = MISSING
    direction: Any = "maximize"  # maximize | minimize, or a list of them, one per name in `objective` (the official
    #                              plugin's default is minimize; the start-up log says which is in use)
    storage: Optional[str] = None  # any SQLAlchemy URL; null: sqlite in the sweep dir (<sweep dir>/optuna.db)
    study_name: Optional[str] = None  # null: "sts_lab". The same name and storage resume a study
    n_trials: int = 20  # finished (complete or pruned) trials the study should hold in total
    n_jobs: int = 2  # trials asked per batch, launched together
    max_failure_rate: float = 0.0  # up to this x n_trials failed trials of this run are replaced; one more stops it
    params: Dict[str, Optional[str]] = field(default_factory=dict)  # key -> override grammar: choice(..), range(..),
    #                                                            interval(..), tag(log, ..); null: not searched
    custom_search_space: Optional[str] = None  # dotpath to fn(cfg, trial) that suggests conditional parameters
    search_space: Optional[Dict[str, Any]] = None  # the official plugin's deprecated form: refused, use params
    grid_params: Dict[str, Any] = field(default_factory=dict)  # key -> [a, b] or "a,b": one study per value, each n_trials
    confirm_seeds: Optional[List[int]] = None  # rerun each study's best configuration with these seeds
    heartbeat_interval: Optional[int] = 60  # seconds between a running trial's heartbeats (RDB storages)
    grace_period: Optional[int] = None  # a trial silent for this long is failed and retried; null: 2x interval
    max_retry: Optional[int] = 2  # a trial whose worker died is retried at most this often, then stays FAIL; null: always


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="sts_lab")
for _name, _node in {
    "tpe": TPESamplerConfig, "random": RandomSamplerConfig, "cmaes": CmaEsSamplerConfig, "nsgaii": NSGAIISamplerConfig,
    "grid": GridSamplerConfig, "gp": GPSamplerConfig, "qmc": QMCSamplerConfig,
}.items():
    ConfigStore.instance().store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="sts_lab")
for _name, _node in {
    "median": MedianPrunerConfig, "percentile": PercentilePrunerConfig, "successive_halving": SuccessiveHalvingPrunerConfig,
    "hyperband": HyperbandPrunerConfig, "none": NopPrunerConfig,
}.items():
    ConfigStore.instance().store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="sts_lab")


class OptunaSweeper(Sweeper):
    """Hydra's entry to the search; the work is done by ``_core.OptunaSearch``."""

    def __init__(self, **config: Any) -> None:
        from hydra_plugins.sts_lab_optuna_sweeper._core import OptunaSearch  # optuna loads here, not at start-up

        self.search = OptunaSearch(**config)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        return self.search.sweep(arguments)

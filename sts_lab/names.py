"""What every side of sts_lab must agree on, named once: the files a job and a sweep write, the metrics, the
trainer's log keys and their W&B names, the trial attributes a search records, study names, the storage URL
and the W&B group rule. Light on imports: the sweeper plugin, the jobs and the report all read it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sts_lab.errors import StsLabError
from sts_lab.overrides import parse_overrides

# What a job writes into its output dir ---------------------------------------------------------------------
METRICS_FILE = "metrics.json"  # written last, only by a finished run: METRIC_NAMES' values and "precision"
FAILURE_FILE = "failure.json"  # written instead by a failed run: {"error": type, "message": text}
PRUNED_FILE = "pruned.json"  # written instead by a search trial its pruner stopped: {"step": n, "message": text}
DEV_CURVE_FILE = "dev_curve.csv"  # step, epoch, dev_spearman, dev_pearson at every evaluation (also when stopped)
TEST_PREDICTIONS_FILE = "test_predictions.csv"  # gold and the prediction for every test pair, in data order
PREDICTION_COLUMNS = {"bi": "cosine", "cross": "score"}  # encoder -> test_predictions.csv's prediction column
OVERRIDES_FILE = ".hydra/overrides.yaml"  # Hydra's record of the job's command-line overrides
JOB_CONFIG_FILE = ".hydra/config.yaml"  # Hydra's record of the job's composed config

METRIC_NAMES = (
    "zero_shot_test_spearman", "dev_spearman", "dev_pearson", "best_dev_spearman", "test_spearman",
    "test_pearson", "train_loss", "train_seconds", "train_samples_per_second", "steps", "parameters",
    "stopped_at_step",  # the step early stopping ended training at; null when the run took all its steps
)
# Null in some runs, so absent from their W&B summary: stopped_at_step in most, the zero-shot score of a
# cross-encoder whose head is new (an untrained head scores at random).
OPTIONAL_METRICS = ("stopped_at_step", "zero_shot_test_spearman")

# What a sweep writes into its sweep dir ---------------------------------------------------------------------
MULTIRUN_FILE = "multirun.yaml"  # the sweep's config, hydra node included
TRIALS_FILE = "trials.csv"  # one row per trial of every study of a search
CACHE_DIR = ".cache"  # numbers the jobs of a sweep share (sts_lab.search.sweep_cache); not a job dir

# The trainer's log keys and their names in W&B ---------------------------------------------------------------
# The bi-encoder's evaluator names its metrics after the similarity (cosine); the cross-encoder's has none.
DEV_LOG_KEYS = {  # encoder -> (dev Spearman, dev Pearson) as the trainer logs them
    "bi": ("eval_dev_spearman_cosine", "eval_dev_pearson_cosine"),
    "cross": ("eval_dev_spearman", "eval_dev_pearson"),
}
DEV_SPEARMAN_HISTORY_KEY, DEV_PEARSON_HISTORY_KEY = "dev/spearman", "dev/pearson"
HISTORY_KEYS = {  # trainer log key -> W&B history key; everything is plotted against STEP_KEY
    "loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "grad_norm": "train/grad_norm",
    "epoch": "train/epoch",
    **{spearman: DEV_SPEARMAN_HISTORY_KEY for spearman, _ in DEV_LOG_KEYS.values()},
    **{pearson: DEV_PEARSON_HISTORY_KEY for _, pearson in DEV_LOG_KEYS.values()},
}
STEP_KEY = "train/global_step"

# Searches: studies and the attributes of their trials -------------------------------------------------------
SWEEPER_TARGET = "hydra_plugins.sts_lab_optuna_sweeper.optuna_sweeper.OptunaSweeper"
DEFAULT_STUDY_NAME = "sts_lab"
DEFAULT_STORAGE_FILE = "optuna.db"  # in the sweep dir when hydra.sweeper.storage is null
CONFIRM_SUFFIX = "-confirm"  # NAME-confirm-N: the study that hands out the confirmation reruns of NAME's trial N
PRUNABLE_OBJECTIVES = ("dev_spearman", "best_dev_spearman")  # what dev Spearman at an evaluation stands for
STEPS_ATTR = "steps"  # training steps the job ran
SECONDS_ATTR = "seconds"  # the job's wall time, model loading and evaluation included
JOB_DIR_ATTR = "job_dir"
ERROR_ATTR = "error"  # why it failed (a job's error, NaN, or a worker that kept dying)
WORKER_ATTR = "worker"  # host:pid of the sweeper process that ran it
NOT_RUN_ATTR = "not_run"  # failed unrun: asked beyond the budget, or its search was refused
INTERRUPTED_ATTR = "interrupted"  # its search was interrupted (Ctrl-C) while it ran
RETRY_OF_ATTR = "retry_of"  # a trial queued again for one its search was interrupted in
RERUN_ATTR = "rerun"  # a trial of a confirmation study: the index of its rerun
STUDY_KEY, TRIAL_KEY, RERUN_OF_KEY = "search.study", "search.trial", "search.rerun_of"  # what a job is told


def dev_scores(logged: Mapping[str, Any]) -> tuple[float, float] | None:
    """(dev Spearman, dev Pearson) from one trainer log entry or evaluation, whichever encoder logged it; None
    when the entry holds no dev evaluation."""
    for spearman, pearson in DEV_LOG_KEYS.values():
        if spearman in logged:
            return logged[spearman], logged[pearson]
    return None


def objective_names(objective: Any) -> list[str]:
    """``objective`` (one metric name, or a list of them for a multi-objective search) as a list."""
    return [objective] if isinstance(objective, str) else list(objective)


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
    if not grid_params:
        return [GridPoint(study_name, [])]
    as_text = {key: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
               for key, value in flat_grid(grid_params).items()}
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


def confirm_study_name(study_name: str, trial_number: int) -> str:
    """The study of the confirmation reruns of ``study_name``'s trial ``trial_number``: a new best after a resume
    gets reruns of its own, and the reruns of an older best stay where they are."""
    return f"{study_name}{CONFIRM_SUFFIX}-{trial_number}"


def stale_error_key(trial_number: int) -> str:
    """The study user attribute that says why trial N is not retried any more (a finished trial's own
    attributes cannot change)."""
    return f"{ERROR_ATTR}:{trial_number}"


def file_safe(study_name: str) -> str:
    """A study name as part of a file name in the sweep dir (``a/b`` would name a directory)."""
    return study_name.replace("/", "_")


def storage_url(configured: str | None, sweep_dir: str | Path, launch_dir: str | Path | None = None) -> str:
    """``hydra.sweeper.storage``, or an SQLite file in the sweep dir. A relative SQLite path is resolved against
    the launch directory (``launch_dir``, else the cwd), not a job's cwd (``hydra.job.chdir=true``)."""
    if not configured:
        return f"sqlite:///{(Path(launch_dir or '.') / sweep_dir).resolve() / DEFAULT_STORAGE_FILE}"
    scheme, separator, path = configured.partition(":///")
    if scheme.startswith("sqlite") and separator and path and not path.startswith(("/", ":memory:")):
        return f"{scheme}:///{(Path(launch_dir or '.') / path).resolve()}"
    return configured


def absolute_sweep_dir(hydra_cfg: DictConfig) -> Path:
    """A multirun's sweep dir, absolute. A relative one is relative to the launch directory, which differs from
    the cwd inside a job when hydra.job.chdir is true."""
    return Path(OmegaConf.select(hydra_cfg, "runtime.cwd") or os.getcwd()) / hydra_cfg.sweep.dir


# The W&B group of a job --------------------------------------------------------------------------------------


def search_group(sweeper: Any) -> str | None:
    """The group of every job of an Optuna search: its study name (without the grid suffix, so the studies of
    one grid share a group); None when ``sweeper`` (``hydra.sweeper``) is not ours."""
    if sweeper is None or sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    return sweeper.get("study_name") or DEFAULT_STUDY_NAME


def sweep_group(sweep_dir: str | Path) -> str:
    """The group of a sweep: its directory's last two parts, ``multirun/2026-11-29/10-30-00`` -> ``2026-11-29_10-30-00``."""
    return "_".join(Path(sweep_dir).parts[-2:])


def wandb_group(logger_group: str | None, sweeper: Any, sweep_dir: str | Path | None) -> str | None:
    """``logger.group``, else the study of a search (``hydra.sweeper`` ours), else the sweep of a multirun; None
    for a single run (``sweep_dir`` None). The one rule of a job's group and of the report that finds its runs."""
    if logger_group:
        return logger_group
    if sweep_dir is None:
        return None
    return search_group(sweeper) or sweep_group(sweep_dir)

"""Conditional search spaces for ``hydra.sweeper.custom_search_space``: ``fn(cfg, trial)`` suggests parameters
that depend on others. ``cfg`` is the sweep's config; ``trial.params`` already holds the values searched by
``hydra.sweeper.params``; ``trial.study.user_attrs["overrides"]`` lists the overrides every trial of the study
gets (the grid point of ``grid_params``, e.g. ``loss=cosine``). A function that raises fails its trial (with the
message), not the search."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

SCALED_LOSSES = ("cosent", "angle")  # the losses with a ``scale`` (inverse temperature); cosine has none


def trial_choice(cfg: DictConfig, trial: Any, group: str) -> str:
    """The option of config group ``group`` this trial runs with: searched (``loss=choice(...)``), else fixed for
    the study (the outer grid or the command line), else the config's default."""
    if group in trial.params:
        return trial.params[group]
    for override in trial.study.user_attrs.get("overrides", []):
        key, _, value = override.partition("=")
        if key.lstrip("+") == group:
            return value
    return cfg.hydra.runtime.choices[group]


def loss_scale(cfg: DictConfig, trial: Any) -> None:
    """``loss.scale`` in [10, 50] (log) for CoSENT and AnglE; nothing for the cosine loss."""
    if trial_choice(cfg, trial, "loss") in SCALED_LOSSES:
        trial.suggest_float("loss.scale", 10.0, 50.0, log=True)

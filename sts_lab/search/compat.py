"""The private Optuna API a search job needs, in one place (the sweeper plugin keeps its own in ``_compat``)."""

from __future__ import annotations

import optuna


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a trial: what its heartbeats are recorded under (Optuna keeps it private)."""
    return trial._trial_id

"""Custom search spaces for the bowl app (``hydra.sweeper.custom_search_space=tests.apps.bowl.spaces.NAME``)."""


def z_for_positive_x(cfg, trial) -> None:
    """A conditional key: ``z`` only where the trial's own ``x`` is positive."""
    if trial.params["x"] > 0:
        trial.suggest_float("z", 0.0, 1.0)


def broken_for_positive_x(cfg, trial) -> None:
    if trial.params["x"] > 0:
        raise ValueError("no space for a positive x")

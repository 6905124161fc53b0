"""The third source of a sweep report, beside the sweep dir and W&B: the Optuna studies of a search, read from
its storage (trial counts, best dev value and configuration per study)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from sts_lab.errors import first_line
from sts_lab.names import MULTIRUN_FILE, grid_points, search_group, storage_url

log = logging.getLogger(__name__)

STUDY_COLUMNS = ("study", "grid", "complete", "pruned", "failed", "best_dev", "best_trial", "best_params")


def search_studies(sweep_dir: str | Path) -> tuple[str, str, list[str]] | None:
    """The storage URL of the search that ran in ``sweep_dir``, its study name (without a grid suffix) and the names
    of its studies in that storage, in grid order; None when no search ran there."""
    sweep_dir = Path(sweep_dir)
    multirun = sweep_dir / MULTIRUN_FILE
    config = OmegaConf.load(multirun) if multirun.is_file() else None
    sweeper = OmegaConf.select(config, "hydra.sweeper") if config is not None else None
    base = search_group(sweeper)
    if base is None:
        return None
    import optuna

    url = storage_url(sweeper.storage, sweep_dir.resolve(), OmegaConf.select(config, "hydra.runtime.cwd"))
    # Exactly the studies this search ran (not every study whose name starts alike: stsb vs stsb-minilm).
    names = set(optuna.get_all_study_names(url))
    grid = OmegaConf.to_container(sweeper.grid_params) if sweeper.get("grid_params") else None
    return url, base, [point.study_name for point in grid_points(grid, base) if point.study_name in names]


def load_studies(sweep_dir: str | Path) -> pd.DataFrame | None:
    """One row per study of the search that ran in ``sweep_dir``; None when no search ran there (or its storage
    cannot be opened: the report then goes on without the studies)."""
    import optuna
    from optuna.trial import TrialState

    try:
        search = search_studies(sweep_dir)
        if search is None:
            return None
        url, base, names = search
        studies = [optuna.load_study(study_name=name, storage=url) for name in names]
    except Exception as error:  # an unreachable database must not cost the rest of the report
        log.warning("Studies of %s not read: %s", sweep_dir, first_line(error))
        return None
    rows = []
    for study in studies:
        states = pd.Series([trial.state for trial in study.get_trials(deepcopy=False)], dtype=object)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = study.best_trial if complete and len(study.directions) == 1 else None
        rows.append({
            "study": study.study_name, "grid": study.study_name.removeprefix(base).lstrip("-") or None,
            "complete": int((states == TrialState.COMPLETE).sum()), "pruned": int((states == TrialState.PRUNED).sum()),
            "failed": int((states == TrialState.FAIL).sum()), "best_dev": best.value if best else None,
            "best_trial": best.number if best else None, "best_params": best.params if best else None,
        })
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))

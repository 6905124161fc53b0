"""What a search leaves in its sweep dir: ``optimization_results*.yaml`` (the official plugin's format),
``trials.csv``, and Optuna's own matplotlib plots per study."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from sts_lab.files import replacing
from sts_lab.names import (
    ERROR_ATTR, INTERRUPTED_ATTR, JOB_DIR_ATTR, NOT_RUN_ATTR, RETRY_OF_ATTR, SECONDS_ATTR, STEPS_ATTR, TRIALS_FILE,
    WORKER_ATTR, file_safe, stale_error_key,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
TRIAL_COLUMNS = {  # trials_dataframe() column -> trials.csv column
    f"user_attrs_{name}": name for name in (STEPS_ATTR, SECONDS_ATTR, JOB_DIR_ATTR, ERROR_ATTR, WORKER_ATTR,
                                            NOT_RUN_ATTR, INTERRUPTED_ATTR, RETRY_OF_ATTR)
}


def results_path(sweep_dir: Path, study: optuna.Study, grid: bool) -> Path:
    """``optimization_results.yaml``; with an outer grid one per study, ``optimization_results_STUDY.yaml``."""
    return sweep_dir / (f"optimization_results_{file_safe(study.study_name)}.yaml" if grid else RESULTS_FILE)


def study_results(study: optuna.Study) -> dict:
    """The official format (``name``, ``best_params``, ``best_value``, or ``solutions`` for several objectives),
    plus the study's name and its count of finished trials."""
    results: dict = {"name": "optuna", "study_name": study.study_name,
                     "n_finished": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))}
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return results
    if len(study.directions) == 1:
        return {**results, "best_params": study.best_params, "best_value": study.best_value,
                "best_trial": study.best_trial.number}
    return {**results, "solutions": [{"number": t.number, "params": t.params, "values": t.values} for t in study.best_trials]}


def trials_table(studies: Sequence[optuna.Study]):
    """One row per trial of every study: study, number, state, params_*, value(s), steps, seconds, job_dir, error."""
    import pandas as pd

    frames = []
    for study in studies:
        frame = study.trials_dataframe(attrs=("number", "state", "params", "value", "user_attrs"))
        if not frame.empty:
            stale = frame.number.map(lambda number: study.user_attrs.get(stale_error_key(number)))
            if stale.notna().any():  # trials whose worker kept dying: the reason is kept on the study
                frame[f"user_attrs_{ERROR_ATTR}"] = stale.combine_first(frame.get(f"user_attrs_{ERROR_ATTR}", stale))
            frame.insert(0, "study", study.study_name)
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["study", "number", "state"])
    table = table.rename(columns=TRIAL_COLUMNS)
    leading = ["study", "number", "state", *[c for c in table.columns if c.startswith("value")],
               *[c for c in table.columns if c.startswith("params_")]]
    return table[leading + [c for c in table.columns if c not in leading]]


def write_results(studies: Sequence[optuna.Study], sweep_dir: Path) -> None:
    """Rewritten after every batch, so an interrupted search leaves its best so far."""
    for study in studies:
        with replacing(results_path(sweep_dir, study, len(studies) > 1)) as path:
            OmegaConf.save(OmegaConf.create(study_results(study)), path)
    with replacing(sweep_dir / TRIALS_FILE) as path:
        trials_table(studies).to_csv(path, index=False)


def write_plots(study: optuna.Study, sweep_dir: Path, grid: bool) -> list[Path]:
    """Optuna's matplotlib plots of a study: optimisation history, parameter importances, parallel coordinates
    and intermediate values (dev Spearman per step); a Pareto front for several objectives. A plot Optuna
    cannot draw yet (too few trials) is skipped with a log line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the matplotlib backend warns that it is experimental
    prefix = f"optuna_{file_safe(study.study_name)}_" if grid else "optuna_"
    drawers = {"pareto_front": plots.plot_pareto_front} if len(study.directions) > 1 else {
        "history": plots.plot_optimization_history, "importances": plots.plot_param_importances,
        "parallel_coordinate": plots.plot_parallel_coordinate, "intermediate_values": plots.plot_intermediate_values,
    }
    written = []
    for name, draw in drawers.items():
        path = sweep_dir / f"{prefix}{name}.png"
        try:
            axes = draw(study)
            figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
            with replacing(path) as temporary:
                figure.savefig(temporary, dpi=110, bbox_inches="tight")
            written.append(path)
        except Exception as error:  # e.g. importances need two complete trials
            log.info("Plot %s of study %s skipped: %s", name, study.study_name, error)
        finally:
            plt.close("all")
    return written

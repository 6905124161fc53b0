"""Read the results of a sweep into one table: from a Hydra multirun directory or a W&B run group.

A job is ``completed`` (wrote metrics.json), ``failed`` (failure.json), ``pruned`` (a search trial its pruner
stopped: pruned.json) or ``incomplete`` (still running, or killed).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from sts_lab.errors import StsLabError
from sts_lab.overrides import parse_overrides
from sts_lab.report.studies import load_studies
from sts_lab.names import (
    DEV_CURVE_FILE, FAILURE_FILE, JOB_CONFIG_FILE, METRICS_FILE, OPTIONAL_METRICS, OVERRIDES_FILE, PREDICTION_COLUMNS,
    PRUNED_FILE, TEST_PREDICTIONS_FILE,
)

COMPLETED, FAILED, PRUNED, INCOMPLETE = STATUSES = ("completed", "failed", "pruned", "incomplete")
JOB_METRICS = ("zero_shot_test_spearman", "dev_spearman", "best_dev_spearman", "test_spearman", "train_seconds")
CURVE_COLUMNS = ("step", "epoch", "dev_spearman", "dev_pearson")
SEED_KEY = "seed"
ENCODER_KEY, DEFAULT_ENCODER = "encoder", "bi"  # a job that does not set encoder= ran the default
PREDICTION = "prediction"  # the predictions' column once read, whichever encoder wrote them

WANDB_STATUS = {"finished": COMPLETED, "failed": FAILED, "crashed": FAILED}
WANDB_CURVE_KEYS = {"train/global_step": "step", "dev/spearman": "dev_spearman", "dev/pearson": "dev_pearson"}

# A comma separates two overrides only when a key and "=" follow it: "optimizer.betas=[0.9,0.99]" stays whole.
OVERRIDE_SEPARATOR = re.compile(r",(?=[~+]*[\w.@/-]+=)")



@dataclass
class SweepResults:
    """The jobs of one sweep: a table with one row per job, and the files of the completed ones."""

    jobs: pd.DataFrame
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # job -> step, epoch, dev_spearman, dev_pearson
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # job -> gold, prediction per test pair
    source: str = ""  # sweep directory or W&B group, for titles
    studies: pd.DataFrame | None = None  # the Optuna studies of a search (sts_lab.report.study_results), else None


# Overrides -------------------------------------------------------------------------------------------------


def split_overrides(text: str) -> list[str]:
    """``"loss=cosent,seed=2"`` -> ``["loss=cosent", "seed=2"]``, keeping commas inside values."""
    return [item for item in OVERRIDE_SEPARATOR.split(text) if item] if text else []


def override_value(override: str) -> tuple[str, Any]:
    """``"+optimizer.lr=3e-5"`` -> ``("optimizer.lr", 3e-05)``, with Hydra's parser (prefixes dropped, values typed)."""
    parsed = parse_overrides([override])[0]
    key = parsed.key_or_group + (f"@{parsed.package}" if parsed.package else "")
    value = parsed.value()
    return key, value if isinstance(value, (str, int, float, bool, type(None))) else parsed.get_value_element_as_str()


def override_values(overrides: Sequence[str]) -> dict[str, Any]:
    return dict(map(override_value, overrides))


def configuration(overrides: str, drop: Iterable[str] = (SEED_KEY,)) -> str:
    """A job's overrides without the keys in ``drop`` (the seed): the label that groups repeated runs."""
    drop = set(drop)
    return ",".join(item for item in split_overrides(overrides) if override_value(item)[0] not in drop)


def override_keys(jobs: pd.DataFrame) -> list[str]:
    """The keys set by the jobs' overrides: the columns between ``overrides`` and ``status``."""
    columns = list(jobs.columns)
    return columns[columns.index("overrides") + 1:columns.index("status")]


def config_keys(jobs: pd.DataFrame) -> list[str]:
    return [key for key in override_keys(jobs) if key != SEED_KEY]


# Loading ---------------------------------------------------------------------------------------------------


def job_row(
    job: str, overrides: Sequence[str], status: str, metrics: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One row of the jobs table; ``metrics`` (completed jobs only) must hold every name in JOB_METRICS."""
    required = [name for name in JOB_METRICS if name not in OPTIONAL_METRICS]
    if metrics is not None and (missing := [name for name in required if name not in metrics]):
        raise StsLabError(f"Job {job}: metrics {missing} missing; available: {sorted(metrics)}")
    return {
        "job": job, "overrides": ",".join(overrides), **override_values(overrides), "status": status,
        **{name: np.nan if (value := (metrics or {}).get(name)) is None else float(value) for name in JOB_METRICS},
        "error": error,
    }


def jobs_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows from job_row -> DataFrame with the override keys (in order of appearance) before ``status``. In a
    sweep dir with cross-encoder jobs the bi-encoder ones say so too (``encoder`` column)."""
    tail = ["status", *JOB_METRICS, "error"]
    table = pd.DataFrame(rows)
    if ENCODER_KEY in table:
        table[ENCODER_KEY] = table[ENCODER_KEY].fillna(DEFAULT_ENCODER)
    keys = [column for column in table.columns if column not in ("job", "overrides", *tail)]
    return table[["job", "overrides", *keys, *tail]]


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's content, or None while it is absent or still being written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def find_job_dirs(sweep_dir: Path) -> list[Path]:
    """Subdirectories holding a Hydra job (``.hydra/overrides.yaml``), by job number."""
    if not sweep_dir.is_dir():
        raise StsLabError(f"{sweep_dir} is not a directory")
    job_dirs = [path for path in sweep_dir.iterdir() if (path / OVERRIDES_FILE).is_file()]
    if not job_dirs:
        raise StsLabError(f"{sweep_dir} is not a Hydra sweep directory: no job subdirectory with {OVERRIDES_FILE}")
    return sorted(job_dirs, key=lambda path: (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name))


def read_job(job_dir: Path) -> dict[str, Any]:
    """A job's row: completed if it wrote metrics.json, failed if failure.json, pruned if pruned.json, else incomplete."""
    overrides = OmegaConf.to_container(OmegaConf.load(job_dir / OVERRIDES_FILE)) or []
    if (metrics := read_json(job_dir / METRICS_FILE)) is not None:
        row = job_row(job_dir.name, overrides, COMPLETED, metrics)
    elif (failure := read_json(job_dir / FAILURE_FILE)) is not None:
        row = job_row(job_dir.name, overrides, FAILED, error=failure.get("message"))
    elif (pruned := read_json(job_dir / PRUNED_FILE)) is not None:
        row = job_row(job_dir.name, overrides, PRUNED, error=pruned.get("message"))
    else:
        row = job_row(job_dir.name, overrides, INCOMPLETE)
    if ENCODER_KEY not in row and (encoder := composed_encoder(job_dir)) not in (None, DEFAULT_ENCODER):
        row[ENCODER_KEY] = encoder
    return row


def composed_encoder(job_dir: Path) -> str | None:
    """The encoder the job's composed config ran: a search or an experiment sets it too, not only ``encoder=``."""
    config = job_dir / JOB_CONFIG_FILE
    return OmegaConf.select(OmegaConf.load(config), "encoder.type") if config.is_file() else None


def read_curve(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).reindex(columns=list(CURVE_COLUMNS))


def read_predictions(path: Path) -> pd.DataFrame:
    """gold and prediction per test pair, whichever encoder wrote them (``names.PREDICTION_COLUMNS``)."""
    frame = pd.read_csv(path)
    return frame.rename(columns={column: PREDICTION for column in PREDICTION_COLUMNS.values()})


@dataclass
class LoadedJob:
    """What the report read of one job dir, and the state of its files when it read them."""

    signature: tuple
    row: dict[str, Any]
    curve: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None


def job_signature(job_dir: Path) -> tuple:
    """Size and mtime of the files that decide a job's row: unchanged, the row read before still holds."""
    signature = []
    for name in (OVERRIDES_FILE, METRICS_FILE, FAILURE_FILE, PRUNED_FILE):
        try:
            stat = (job_dir / name).stat()
            signature.append((name, stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            signature.append((name, None, None))
    return tuple(signature)


def load_job(job_dir: Path) -> LoadedJob:
    signature = job_signature(job_dir)
    loaded = LoadedJob(signature, read_job(job_dir))
    if loaded.row["status"] in (COMPLETED, PRUNED):  # a pruned job keeps its curve
        if (curve := job_dir / DEV_CURVE_FILE).is_file():
            loaded.curve = read_curve(curve)
        if (predictions := job_dir / TEST_PREDICTIONS_FILE).is_file():
            loaded.predictions = read_predictions(predictions)
    return loaded


def load_sweep(sweep_dir: str | Path, cache: dict[str, LoadedJob] | None = None) -> SweepResults:
    """Read a Hydra multirun directory; raises StsLabError when it holds no job.

    With ``cache`` (kept by the caller between calls, as the sweep report callback does after every job), a job
    dir whose result files have not changed since the last call is not read again, so each rebuild reads only
    the jobs that finished since: a sweep of n jobs reads each job's files once, not n times.
    """
    sweep_dir = Path(sweep_dir)
    cache = {} if cache is None else cache
    loaded = []
    for job_dir in find_job_dirs(sweep_dir):
        known = cache.get(job_dir.name)
        if known is None or known.signature != job_signature(job_dir):
            known = cache[job_dir.name] = load_job(job_dir)
        loaded.append(known)
    results = SweepResults(jobs_table([job.row for job in loaded]), source=str(sweep_dir), studies=load_studies(sweep_dir))
    for job in loaded:
        if job.curve is not None:
            results.curves[job.row["job"]] = job.curve
        if job.predictions is not None:
            results.predictions[job.row["job"]] = job.predictions
    return results


def load_wandb(path: str, group: str, api: Any = None) -> SweepResults:
    """Read the runs of W&B group ``group`` in ``path`` (ENTITY/PROJECT); each run's name is its overrides."""
    if api is None:
        import wandb  # here, not at the top: only this path needs it

        api = wandb.Api()
    rows, results = [], SweepResults(pd.DataFrame(), source=f"{path} group {group}")
    with tempfile.TemporaryDirectory() as download_dir:
        for run in api.runs(path, filters={"group": group}):  # oldest first
            status = WANDB_STATUS.get(run.state, INCOMPLETE)
            completed = status == COMPLETED
            rows.append(job_row(
                run.id, split_overrides(run.name or ""), status, metrics=dict(run.summary) if completed else None,
                error=f"W&B run {run.state}" if status == FAILED else None,
            ))
            if not completed:
                continue
            history = run.history(keys=["dev/spearman", "dev/pearson"], x_axis="train/global_step", pandas=True)
            results.curves[run.id] = history.rename(columns=WANDB_CURVE_KEYS).reindex(columns=list(CURVE_COLUMNS))
            for file in run.files(names=[TEST_PREDICTIONS_FILE]):  # empty when the run has no predictions
                file.download(root=download_dir, replace=True)
                results.predictions[run.id] = read_predictions(Path(download_dir) / TEST_PREDICTIONS_FILE)
    if not rows:
        raise StsLabError(f"No W&B runs in {path} with group {group!r}")
    results.jobs = jobs_table(rows)
    return results

"""trainer.early_stopping_patience: a run stops when dev Spearman stops improving, keeps its best model, and a
search counts such a trial as COMPLETE with that model's dev Spearman."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from sts_lab.errors import StsLabError
from sts_lab.names import METRICS_FILE
from sts_lab.run.train import train
from tests.conftest import TINY, compose_config

# No gain can exceed a threshold of 1 in Spearman: the second evaluation (step 4) ends training, of 12 planned.
STOP_AFTER_ONE = ["trainer.max_steps=12", "trainer.early_stopping_patience=1", "trainer.early_stopping_threshold=1"]


def test_run_stops_early_and_keeps_its_best_model(tmp_path):
    # With random batches the tiny model's dev Spearman rises until step 8 and falls at step 10, where patience 1
    # stops it. fp32 throughout, so that the dev scores during training and the final one agree to 1e-5.
    cfg = compose_config(*TINY, "trainer.max_steps=12", "trainer.early_stopping_patience=1", "trainer.precision=fp32",
                         "trainer.batch_sampler=random")
    metrics = train(cfg, tmp_path)

    assert metrics["steps"] == metrics["stopped_at_step"] == 10
    assert json.loads((tmp_path / METRICS_FILE).read_text())["stopped_at_step"] == 10
    curve = {int(row["step"]): float(row["dev_spearman"]) for row in csv.DictReader((tmp_path / "dev_curve.csv").open())}
    assert list(curve) == [2, 4, 6, 8, 10] and max(curve, key=curve.get) == 8
    assert metrics["dev_spearman"] == pytest.approx(curve[8], abs=1e-5), "the step-8 model is the one kept"
    assert abs(metrics["dev_spearman"] - curve[10]) > 1e-4
    assert metrics["best_dev_spearman"] == pytest.approx(curve[8], abs=1e-5)
    assert not list(tmp_path.glob("trainer/checkpoint-*")), "the best checkpoint is deleted once loaded"


def test_patience_counts_from_the_warmup_step(tmp_path):
    # STOP_AFTER_ONE stops at the second evaluation (step 4); evaluations before step 8 do not count, so step 8 does.
    metrics = train(compose_config(*TINY, *STOP_AFTER_ONE, "trainer.early_stopping_warmup_steps=8"), tmp_path)
    assert metrics["steps"] == metrics["stopped_at_step"] == 8


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.early_stopping_warmup_steps=-1", r"^trainer.early_stopping_warmup_steps=-1: must be >= 0"),
    ("trainer.early_stopping_patience=0", r"^trainer.early_stopping_patience=0: must be null or >= 1"),
    ("trainer.early_stopping_threshold=-0.1", r"^trainer.early_stopping_threshold=-0.1: must be >= 0"),
])
def test_bad_early_stopping_is_refused(override, message, tmp_path):
    with pytest.raises(StsLabError, match=message):
        train(compose_config(*TINY, override), tmp_path)


@pytest.mark.e2e
def test_search_counts_an_early_stopped_trial_complete_with_its_best_dev(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "sts_lab", "--multirun", "hydra/sweeper=optuna", *TINY, *STOP_AFTER_ONE, "logger=none",
         "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=3", "optimizer.lr=tag(log, interval(1e-4, 1e-2))",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="sts_lab", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:
        metrics = json.loads((sweep_dir / str(trial.number) / METRICS_FILE).read_text())
        assert metrics["stopped_at_step"] == 4 and trial.user_attrs["steps"] == 4
        assert trial.value == pytest.approx(metrics["dev_spearman"])

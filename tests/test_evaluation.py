"""The dev evaluator encodes each distinct sentence once and scores exactly as sentence-transformers' own."""

from __future__ import annotations

import pytest
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from sts_lab.run.data import load_splits
from sts_lab.run.evaluation import dev_evaluator
from sts_lab.run.modeling import build_model
from sts_lab.run.normalization import normalize
from tests.conftest import TINY, compose_config


def test_pair_evaluator_scores_as_the_library_and_encodes_each_sentence_once():
    cfg = compose_config(*TINY)
    dev = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)["dev"]
    dev = dev.add_item({**dev[0]})  # a repeated pair: its sentences must still be encoded once
    model = build_model(cfg.model, cfg.pooling)
    stock = EmbeddingSimilarityEvaluator(dev["sentence1"], dev["sentence2"], dev["score"], batch_size=16,
                                         main_similarity="cosine", similarity_fn_names=["cosine"], name="dev",
                                         write_csv=False)(model)
    encoded = []
    original = model.encode
    model.encode = lambda sentences, **kwargs: encoded.extend(sentences) or original(sentences, **kwargs)

    ours = dev_evaluator(dev, batch_size=16)(model)

    assert ours.keys() == stock.keys()
    assert all(ours[key] == pytest.approx(stock[key], abs=1e-5) for key in stock)
    assert sorted(encoded) == sorted(set(dev["sentence1"]) | set(dev["sentence2"]))

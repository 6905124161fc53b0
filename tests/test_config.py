"""Every option of every config group composes, passes the start-up checks and builds trainer arguments."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

from sts_lab.run.training_args import training_arguments
from sts_lab.run.validation import validate
from tests.conftest import CONF_DIR, compose_config

APPENDED = ("debug", "experiment")  # groups the defaults list does not name: +debug=smoke, +experiment=NAME
GROUP_OPTIONS = sorted(
    f"{'+' if path.parent.name in APPENDED else ''}{path.parent.name}={path.stem}"
    for path in CONF_DIR.glob("*/*.yaml") if path.parent.name != "hydra"
)

# Options valid only together: a cross-encoder trains with a cross-encoder loss.
PARTNERS = {"encoder=cross": ["loss=bce"], "loss=bce": ["encoder=cross"], "loss=mse": ["encoder=cross"]}


def test_every_group_has_options():
    groups = {option.split("=")[0].lstrip("+") for option in GROUP_OPTIONS}
    assert {"model", "encoder", "pooling", "loss", "data", "normalization", "optimizer", "trainer"} <= groups


@pytest.mark.parametrize("option", GROUP_OPTIONS)
def test_option_composes_and_validates(option, tmp_path):
    overrides = [option, *PARTNERS.get(option, [])]
    if option == "normalization=none":  # raw 0-5 labels only fit the rank losses
        overrides.append("loss=cosent")
    cfg = compose_config(*overrides)
    validate(cfg)
    args = training_arguments(cfg, tmp_path)
    cross = cfg.encoder.type == "cross"
    assert isinstance(args, CrossEncoderTrainingArguments if cross else SentenceTransformerTrainingArguments)
    assert args.learning_rate == cfg.optimizer.lr
    assert args.per_device_train_batch_size == cfg.trainer.batch_size
    assert args.report_to == [] or args.report_to in ("none", ["none"])


def test_defaults_are_the_documented_recipe():
    cfg = compose_config()
    assert cfg.model.name_or_path == "sentence-transformers/all-MiniLM-L6-v2"
    assert cfg.loss._target_.endswith("CoSENTLoss")
    assert cfg.data.hub_id == "sentence-transformers/stsb"
    assert list(cfg.normalization.range) == [0.0, 1.0]
    assert (cfg.trainer.batch_size, cfg.trainer.epochs, cfg.optimizer.warmup_ratio) == (16, 4, 0.1)
    assert cfg.objective == "dev_spearman"

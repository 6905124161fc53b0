"""The training loss (``loss`` config group): a sentence-transformers loss class and its parameters."""

from __future__ import annotations

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
from torch import nn

# CosineSimilarityLoss regresses cos(u, v) onto the label, so labels must lie where a cosine can: [-1, 1].
# BinaryCrossEntropyLoss takes labels as probabilities: [0, 1]. CoSENT and AnglE read labels only through
# their order: any range fits them.
LABEL_RANGES = {CosineSimilarityLoss: (-1.0, 1.0), BinaryCrossEntropyLoss: (0.0, 1.0)}


def required_label_range(loss_cfg: DictConfig) -> tuple[float, float] | None:
    """The label range the loss needs, or None when any range works."""
    loss_class = get_class(loss_cfg._target_)
    return next((bounds for base, bounds in LABEL_RANGES.items() if issubclass(loss_class, base)), None)


def build_loss(loss_cfg: DictConfig, model: SentenceTransformer | CrossEncoder) -> nn.Module:
    return instantiate(loss_cfg, model=model)

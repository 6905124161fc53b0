"""Which model family a run trains (``encoder`` config group): a bi-encoder (SentenceTransformer) or a
cross-encoder (CrossEncoder), and which losses belong to which."""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig

BI, CROSS = ENCODERS = ("bi", "cross")
CROSS_ENCODER_PACKAGE = "sentence_transformers.cross_encoder."


def loss_encoder(loss_cfg: DictConfig) -> str:
    """The encoder a loss trains. sentence-transformers keeps the cross-encoder losses in a package of their
    own; any other loss (a custom one too) takes sentence embeddings: a bi-encoder loss."""
    return CROSS if get_class(loss_cfg._target_).__module__.startswith(CROSS_ENCODER_PACKAGE) else BI


def loss_name(loss_cfg: DictConfig) -> str:
    return loss_cfg._target_.rsplit(".", 1)[-1]

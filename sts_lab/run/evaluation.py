"""Spearman/Pearson of the predicted similarity against gold scores, the STS metric, during and after training:
the cosine of a bi-encoder's two embeddings, a cross-encoder's score of the pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from sts_lab.run.encoders import BI, CROSS


def encode_pairs(
    model: SentenceTransformer, first: list[str], second: list[str], batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of both sides of every pair, each distinct sentence encoded once, both columns in one
    length-sorted pass (STSb repeats 3% of its dev and 7% of its test sentences)."""
    distinct = list(dict.fromkeys([*first, *second]))
    embeddings = model.encode(distinct, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False).float()
    row = {sentence: index for index, sentence in enumerate(distinct)}
    return embeddings[[row[s] for s in first]], embeddings[[row[s] for s in second]]


class PairSimilarityEvaluator(EmbeddingSimilarityEvaluator):
    """sentence-transformers' evaluator (its metrics, names and logging), with the encoding of ``encode_pairs``:
    the library encodes each column on its own, repeated sentences included."""

    def __call__(self, model: SentenceTransformer, *args, **kwargs) -> dict[str, float]:
        self._pairs = encode_pairs(model, self.sentences1, self.sentences2, self.batch_size)
        try:
            return super().__call__(model, *args, **kwargs)
        finally:
            del self._pairs

    def embed_inputs(self, model: SentenceTransformer, sentences, **kwargs) -> np.ndarray:
        # The library asks for self.sentences1 and self.sentences2 (both encoded in __call__); anything else fails.
        side = {id(self.sentences1): 0, id(self.sentences2): 1}[id(sentences)]
        return self._pairs[side].cpu().numpy()


def dev_evaluator(pairs: Dataset, batch_size: int, encoder: str = BI) -> BaseEvaluator:
    """Run by the trainer at each evaluation; logs dev Spearman and Pearson (``names.DEV_LOG_KEYS[encoder]``)."""
    if encoder == CROSS:
        return CrossEncoderCorrelationEvaluator(
            list(zip(pairs["sentence1"], pairs["sentence2"])), pairs["score"], name="dev", batch_size=batch_size,
            show_progress_bar=False, write_csv=False,
        )
    return PairSimilarityEvaluator(
        pairs["sentence1"],
        pairs["sentence2"],
        pairs["score"],
        batch_size=batch_size,
        main_similarity="cosine",
        similarity_fn_names=["cosine"],
        name="dev",
        write_csv=False,
    )


@dataclass
class SplitScores:
    """The predicted similarity of every pair, and its correlations with the gold scores."""

    predictions: np.ndarray
    spearman: float
    pearson: float


def score_split(model: SentenceTransformer | CrossEncoder, pairs: Dataset, batch_size: int) -> SplitScores:
    """The evaluator's metric, keeping the per-pair predictions (the sweep report bootstraps over them)."""
    if isinstance(model, CrossEncoder):
        predictions = model.predict(list(zip(pairs["sentence1"], pairs["sentence2"])), batch_size=batch_size,
                                    convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
    else:
        first, second = encode_pairs(model, pairs["sentence1"], pairs["sentence2"], batch_size)
        predictions = model.similarity_pairwise(first, second).float().cpu().numpy()
    gold = np.asarray(pairs["score"])
    return SplitScores(predictions, float(spearmanr(gold, predictions)[0]), float(pearsonr(gold, predictions)[0]))

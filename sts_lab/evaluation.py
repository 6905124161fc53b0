"""Spearman/Pearson of cosine similarity against gold scores: the STS metric, during and after training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from datasets import Dataset
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

DEV_SPEARMAN_LOG_KEY = "eval_dev_spearman_cosine"
DEV_PEARSON_LOG_KEY = "eval_dev_pearson_cosine"


def dev_evaluator(pairs: Dataset, batch_size: int) -> EmbeddingSimilarityEvaluator:
    """Run by the trainer at each evaluation; logs ``eval_dev_spearman_cosine`` and ``eval_dev_pearson_cosine``."""
    return EmbeddingSimilarityEvaluator(
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
    """Cosine similarity of every pair, and its correlations with the gold scores."""

    predictions: np.ndarray
    spearman: float
    pearson: float


def score_split(model: SentenceTransformer, pairs: Dataset, batch_size: int) -> SplitScores:
    """The evaluator's metric, keeping the per-pair predictions (the sweep report bootstraps over them)."""
    first = model.encode(pairs["sentence1"], batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
    second = model.encode(pairs["sentence2"], batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
    predictions = model.similarity_pairwise(first, second).float().cpu().numpy()
    gold = np.asarray(pairs["score"])
    return SplitScores(predictions, float(spearmanr(gold, predictions)[0]), float(pearsonr(gold, predictions)[0]))

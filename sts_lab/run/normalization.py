"""Map gold scores onto the label range a loss trains against (``normalization`` config group)."""

from __future__ import annotations

from datasets import DatasetDict
from omegaconf import DictConfig


def label_range(data_cfg: DictConfig, norm_cfg: DictConfig) -> tuple[float, float]:
    """The range labels will occupy after normalisation; known from config alone, before any data loads."""
    if norm_cfg.range is None:
        return float(data_cfg.min_score), float(data_cfg.max_score)
    low, high = norm_cfg.range
    return float(low), float(high)


def normalize_score(score: float, data_cfg: DictConfig, norm_cfg: DictConfig) -> float:
    """Linear map of [min_score, max_score] onto normalization.range (identity when range is null)."""
    if norm_cfg.range is None:
        return score
    low, high = label_range(data_cfg, norm_cfg)
    fraction = (score - data_cfg.min_score) / (data_cfg.max_score - data_cfg.min_score)
    return low + fraction * (high - low)


def normalize(splits: DatasetDict, data_cfg: DictConfig, norm_cfg: DictConfig) -> DatasetDict:
    """Replace ``score`` by the normalised label in every split."""
    return splits.map(
        lambda batch: {"score": [normalize_score(s, data_cfg, norm_cfg) for s in batch["score"]]},
        batched=True,
    )

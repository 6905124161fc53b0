"""Training batches (``trainer.batch_sampler``): random, as sentence-transformers draws them, or grouped by length.

SentenceTransformerTrainer ignores transformers' ``group_by_length``; its hook is the training argument
``batch_sampler``, which takes a ``DefaultBatchSampler`` subclass or a callable returning one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import torch
from datasets import Dataset
from omegaconf import DictConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.sampler import BatchSamplers, DefaultBatchSampler

BATCH_SAMPLERS = ("random", "length")


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Batches of pairs of similar length, so that little of each batch is padding.

    Each epoch: shuffle all pairs, cut the order into windows of ``window`` batches, sort each window by pair
    length and cut it into batches, then shuffle the order of all batches. Every pair comes once per epoch; the
    order follows ``seed + epoch`` (as sentence-transformers' own samplers do), so a run is reproducible.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        lengths: Sequence[int],
        window: int,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        if len(lengths) != len(dataset):
            raise ValueError(f"{len(lengths)} lengths for {len(dataset)} pairs")
        self.lengths = torch.as_tensor(lengths)
        self.window = window

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        span = self.window * self.batch_size
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start:start + span]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        for position in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[position]


def pair_lengths(pairs: Dataset, model: SentenceTransformer) -> list[int]:
    """Tokens of each pair (both sentences, special tokens included, each cut at the model's max_seq_length)."""
    counts = [
        [len(ids) for ids in model.tokenizer(list(pairs[column]), truncation=True, max_length=model.max_seq_length)["input_ids"]]
        for column in ("sentence1", "sentence2")
    ]
    return [first + second for first, second in zip(*counts)]


def batch_sampler(trainer_cfg: DictConfig, train_pairs: Dataset, model: SentenceTransformer):
    """The ``batch_sampler`` training argument for ``trainer.batch_sampler``."""
    if trainer_cfg.batch_sampler == "random":
        return BatchSamplers.BATCH_SAMPLER
    return partial(LengthGroupedBatchSampler, lengths=pair_lengths(train_pairs, model), window=trainer_cfg.length_window)

"""trainer.batch_sampler: length-grouped batches hold every pair once per epoch, sorted within a window."""

from __future__ import annotations

import random

import pytest
from datasets import Dataset

from sts_lab.run.batching import LengthGroupedBatchSampler
from sts_lab.errors import StsLabError
from sts_lab.names import METRICS_FILE
from sts_lab.run.train import train
from tests.conftest import TINY, compose_config

BATCH, WINDOW = 4, 3


def sampler(lengths: list[int], seed: int = 0, drop_last: bool = False) -> LengthGroupedBatchSampler:
    dataset = Dataset.from_dict({"length": lengths})
    return LengthGroupedBatchSampler(dataset, BATCH, drop_last, seed=seed, lengths=lengths, window=WINDOW)


def test_every_pair_once_per_epoch_and_batches_length_sorted_within_a_window():
    lengths = [random.Random(7).randrange(10, 80) for _ in range(50)]  # 50 pairs: 4 windows of 12, then 2
    grouped = sampler(lengths)
    for epoch in range(2):
        grouped.set_epoch(epoch)
        batches = list(grouped)
        assert sorted(i for batch in batches for i in batch) == list(range(50))
        assert len(batches) == len(grouped) == 13
        # Sorted within a window: a window's batches cover consecutive, non-overlapping length ranges.
        windows = regroup_into_windows(grouped, epoch)
        for window in windows:
            spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in window)
            assert all(high <= next_low for (_, high), (next_low, _) in zip(spans, spans[1:]))
    grouped.set_epoch(0)
    first = list(grouped)
    grouped.set_epoch(1)
    assert list(grouped) != first, "each epoch draws a new order"
    grouped.set_epoch(0)
    assert list(grouped) == first == list(sampler(lengths)), "the order follows seed + epoch only"
    assert list(sampler(lengths, seed=1)) != first


def regroup_into_windows(grouped: LengthGroupedBatchSampler, epoch: int) -> list[list[list[int]]]:
    """The epoch's batches, grouped by the window they were cut from (before the batch order was shuffled)."""
    import torch

    order = torch.randperm(len(grouped.lengths), generator=torch.Generator().manual_seed(grouped.seed + epoch)).tolist()
    window_of = {index: position // (WINDOW * BATCH) for position, index in enumerate(order)}
    windows: dict[int, list[list[int]]] = {}
    for batch in grouped:
        assert len({window_of[i] for i in batch}) == 1, "a batch never mixes windows"
        windows.setdefault(window_of[batch[0]], []).append(batch)
    return list(windows.values())


def test_batch_order_is_shuffled_and_drop_last_drops_the_short_batch():
    lengths = list(range(50))  # already sorted: without shuffling batches, lengths would only rise
    batches = list(sampler(lengths))
    firsts = [lengths[batch[0]] for batch in batches]
    assert firsts != sorted(firsts)
    kept = list(sampler(lengths, drop_last=True))
    assert len(kept) == 12 and all(len(batch) == BATCH for batch in kept)


def test_length_grouped_run_trains(tmp_path):
    metrics = train(compose_config(*TINY, "trainer.batch_sampler=length", "trainer.length_window=2"), tmp_path)
    assert metrics["steps"] == 4 and (tmp_path / METRICS_FILE).is_file()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.batch_sampler=sorted", r"^trainer.batch_sampler='sorted': must be one of \['random', 'length'\]$"),
        ("trainer.length_window=0", r"^trainer.length_window=0: must be >= 1"),
    ],
)
def test_bad_batch_sampler_is_refused(override, message, tmp_path):
    with pytest.raises(StsLabError, match=message):
        train(compose_config(*TINY, override), tmp_path)

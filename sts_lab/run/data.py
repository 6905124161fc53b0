"""Load STS pairs (sentence1, sentence2, score) for the train/dev/test splits.

Sources, chosen by the ``data`` config group:
- ``data.path``: a directory with the original STS Benchmark release files (tab-separated, no quoting,
  7 columns and sometimes 2 more, score 0-5). ``pkg://sts_lab/...`` points inside this package.
- otherwise ``data.hub_id``: a Hugging Face dataset with sentence1/sentence2/score columns.
"""

from __future__ import annotations

import csv
import logging
from importlib import resources
from pathlib import Path

from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from sts_lab.errors import StsLabError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
# Columns of the original release: genre, file, years, id, score, sentence1, sentence2[, source, source]
SCORE_COLUMN, SENTENCE1_COLUMN, SENTENCE2_COLUMN, MIN_COLUMNS = 4, 5, 6, 7


def resolve_path(path: str) -> Path:
    """``pkg://package/sub/dir`` -> the directory inside the installed package; anything else as given."""
    if path.startswith("pkg://"):
        package, _, subdir = path.removeprefix("pkg://").partition("/")
        return Path(str(resources.files(package))) / subdir
    return Path(path).expanduser()


def read_sts_file(path: Path, min_score: float, max_score: float) -> Dataset:
    """Read one STS release file. Every problem is reported as ``file:line: what is wrong``."""
    sentence1, sentence2, scores = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        # The release has no quoting: sentences contain bare '"' characters.
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if row == [] or row == [""]:
                continue
            if len(row) < MIN_COLUMNS:
                raise StsLabError(
                    f"{where}: malformed row, expected at least {MIN_COLUMNS} tab-separated columns "
                    f"(genre, file, years, id, score, sentence1, sentence2), found {len(row)}"
                )
            try:
                score = float(row[SCORE_COLUMN])
            except ValueError:
                raise StsLabError(f"{where}: malformed row, score {row[SCORE_COLUMN]!r} is not a number") from None
            if not min_score <= score <= max_score:
                raise StsLabError(
                    f"{where}: score {score} is outside the declared range "
                    f"[data.min_score, data.max_score] = [{min_score}, {max_score}]"
                )
            first, second = row[SENTENCE1_COLUMN].strip(), row[SENTENCE2_COLUMN].strip()
            if not first or not second:
                raise StsLabError(f"{where}: malformed row, empty sentence")
            sentence1.append(first)
            sentence2.append(second)
            scores.append(score)
    return Dataset.from_dict({"sentence1": sentence1, "sentence2": sentence2, "score": scores})


def load_from_files(cfg: DictConfig) -> DatasetDict:
    directory = resolve_path(cfg.path)
    if not directory.is_dir():
        raise StsLabError(f"data.path={cfg.path!r}: no such directory")
    missing = [cfg.files[split] for split in SPLITS if not (directory / cfg.files[split]).is_file()]
    if missing:
        raise StsLabError(f"data.path={cfg.path!r}: missing {', '.join(missing)} (data.files names them)")
    return DatasetDict(
        {split: read_sts_file(directory / cfg.files[split], cfg.min_score, cfg.max_score) for split in SPLITS}
    )


def load_from_hub(cfg: DictConfig) -> DatasetDict:
    from datasets import load_dataset

    try:
        hub = load_dataset(cfg.hub_id)
    except Exception as error:  # datasets raises several types (ConnectionError, DatasetNotFoundError, ...)
        raise StsLabError(
            f"data.hub_id={cfg.hub_id!r}: cannot load it from the Hugging Face Hub ({type(error).__name__}); "
            "set data.path=DIR to read the original STS Benchmark files, or use data=sample"
        ) from error
    splits = DatasetDict({split: hub[cfg.hub_splits[split]] for split in SPLITS})
    # The hub copy stores score / max_score; bring it back to the declared gold range.
    return splits.map(
        lambda batch: {"score": [s * cfg.max_score for s in batch["score"]]}, batched=True
    ).select_columns(["sentence1", "sentence2", "score"])


def load_splits(cfg: DictConfig) -> DatasetDict:
    """Train/dev/test pairs with raw gold scores in [data.min_score, data.max_score], capped at data.limit."""
    splits = load_from_files(cfg) if cfg.path else load_from_hub(cfg)
    for split in SPLITS:
        if len(splits[split]) == 0:
            raise StsLabError(f"data: the {split} split is empty (source: {cfg.path or cfg.hub_id})")
    if cfg.limit is not None:
        # A fixed random subset (data.limit_seed), the same for every run, so runs stay comparable.
        splits = DatasetDict(
            {
                split: pairs.shuffle(seed=cfg.limit_seed).select(range(min(cfg.limit, len(pairs))))
                for split, pairs in splits.items()
            }
        )
    log.info("Data: %s pairs (train/dev/test)", "/".join(str(len(splits[s])) for s in SPLITS))
    return splits

"""Loading STS pairs: the original release files, the packaged sample set, and every malformed input."""

from __future__ import annotations

import pytest

from sts_lab.run.data import load_splits, read_sts_file
from sts_lab.errors import StsLabError
from sts_lab.run.normalization import normalize
from tests.conftest import compose_config

ROW = "captions\tsample\t2026\t{id:04d}\t{score}\tA dog runs on the beach.\tA dog is running on sand.\n"


def write_split(directory, name, rows):
    (directory / name).write_text("".join(rows), encoding="utf-8")


def write_dataset(directory, train=None, dev=None, test=None):
    directory.mkdir(exist_ok=True)
    default = [ROW.format(id=i, score=i % 6) for i in range(6)]
    for name, rows in (("sts-train.csv", train), ("sts-dev.csv", dev), ("sts-test.csv", test)):
        write_split(directory, name, default if rows is None else rows)
    return directory


def data_cfg(path, *overrides):
    return compose_config("data=stsb", f"data.path={path}", *overrides).data


def test_original_stsb_files(stsb_dir):
    splits = load_splits(data_cfg(stsb_dir))
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [5749, 1500, 1379]
    scores = splits["train"]["score"]
    assert min(scores) == 0.0 and max(scores) == 5.0
    # Sentences with bare quote characters stay whole (the files have no quoting).
    assert any('"' in sentence for sentence in list(splits["train"]["sentence1"]) + list(splits["train"]["sentence2"]))
    # Rows with two extra source columns are read like the others.
    with (stsb_dir / "sts-train.csv").open(encoding="utf-8") as handle:
        assert any(len(line.rstrip("\n").split("\t")) > 7 for line in handle)
    assert all(s and "\t" not in s for s in splits["test"]["sentence2"])


def test_quotes_and_extra_columns(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text(
        'news\tf\t2026\t0001\t4.5\tHe said "no" twice.\tHe refused twice.\tsrc\tsrc2\n'
        'news\tf\t2026\t0002\t1.0\t"Quoted start\tplain\n',
        encoding="utf-8",
    )
    pairs = read_sts_file(path, 0.0, 5.0)
    assert list(pairs["sentence1"]) == ['He said "no" twice.', '"Quoted start']
    assert list(pairs["score"]) == [4.5, 1.0]


def test_sample_data_is_packaged():
    splits = load_splits(compose_config("data=sample").data)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [240, 80, 80]
    assert len(set(splits["train"]["score"])) > 10


def test_limit_takes_the_same_subset(tmp_path):
    cfg = compose_config("data=sample", "data.limit=7").data
    first, second = load_splits(cfg), load_splits(cfg)
    assert len(first["train"]) == 7 and list(first["train"]["sentence1"]) == list(second["train"]["sentence1"])


@pytest.mark.parametrize(
    ("normalization", "expected"),
    [("unit", [0.0, 0.5, 1.0]), ("signed", [-1.0, 0.0, 1.0]), ("none", [0.0, 2.5, 5.0])],
)
def test_normalization(tmp_path, normalization, expected):
    rows = [ROW.format(id=i, score=s) for i, s in enumerate((0, 2.5, 5))]
    directory = write_dataset(tmp_path / "d", train=rows)
    cfg = compose_config("data=stsb", f"data.path={directory}", f"normalization={normalization}", "loss=cosent")
    splits = normalize(load_splits(cfg.data), cfg.data, cfg.normalization)
    assert list(splits["train"]["score"]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("train_rows", "message"),
    [
        (["news\tf\t2026\t0001\t3.0\tonly one sentence\n"], r"sts-train.csv:1: malformed row"),
        ([ROW.format(id=1, score=2), "news\tf\t2026\t0002\tabc\ta\tb\n"], r"sts-train.csv:2: malformed row, score 'abc'"),
        ([ROW.format(id=1, score=5.5)], r"sts-train.csv:1: score 5.5 is outside the declared range"),
        ([ROW.format(id=1, score=-0.5)], r"sts-train.csv:1: score -0.5 is outside"),
        ([], r"the train split is empty"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, train_rows, message):
    directory = write_dataset(tmp_path / "d", train=train_rows)
    with pytest.raises(StsLabError, match=message):
        load_splits(data_cfg(directory))


def test_missing_and_empty_data_dir(tmp_path):
    with pytest.raises(StsLabError, match=r"data.path=.*no such directory"):
        load_splits(data_cfg(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(StsLabError, match=r"data.path=.*missing sts-train.csv, sts-dev.csv, sts-test.csv"):
        load_splits(data_cfg(tmp_path / "empty"))


def test_unreachable_hub_dataset_names_the_key():
    with pytest.raises(StsLabError, match=r"data.hub_id='sentence-transformers/stsb'.*data.path=DIR"):
        load_splits(compose_config().data)

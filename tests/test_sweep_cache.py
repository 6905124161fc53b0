"""The per-sweep memo: computed once per key, read back by later jobs, recomputed when its file is damaged."""

from __future__ import annotations

from sts_lab.search.sweep_cache import cached_number


def test_a_number_is_computed_once_per_key(tmp_path):
    calls = []

    def compute(value: float):
        return lambda: calls.append(value) or value

    assert cached_number(tmp_path, {"model": "a"}, compute(0.5)) == (0.5, False)
    assert cached_number(tmp_path, {"model": "a"}, compute(0.9)) == (0.5, True)
    assert cached_number(tmp_path, {"model": "b"}, compute(0.7)) == (0.7, False)
    assert calls == [0.5, 0.7]
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".json", ".json"]  # no partial files left


def test_a_damaged_entry_is_recomputed_and_no_cache_dir_always_computes(tmp_path):
    cached_number(tmp_path, {"model": "a"}, lambda: 0.5)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"key": ')  # a job killed mid-write on a filesystem without atomic rename
    assert cached_number(tmp_path, {"model": "a"}, lambda: 0.6) == (0.6, False)
    assert cached_number(None, {"model": "a"}, lambda: 0.8) == (0.8, False)

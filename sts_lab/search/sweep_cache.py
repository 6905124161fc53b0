"""Numbers that the jobs of one sweep share, computed by the first job that needs them.

The zero-shot test score is one: every trial of a search starts from the same model and data, and scoring
the test split costs ~15 s a job on a 2-core CPU, a quarter of a trial the pruner stops at its first
evaluation. No library keeps such a per-sweep memo, hence these few lines: one small JSON file per key, written
whole (``files.replacing``), so jobs of several workers or machines sharing the sweep dir never read half a file;
two jobs computing the same key at once both write the same number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sts_lab.files import replacing



def cached_number(cache_dir: Path | None, key: Mapping[str, Any], compute: Callable[[], float]) -> tuple[float, bool]:
    """``compute()``, or the number an earlier job stored under ``key`` (JSON-able) in ``cache_dir``; returns
    the number and whether it came from the cache. ``cache_dir=None`` (a single run) always computes."""
    if cache_dir is None:
        return compute(), False
    text = json.dumps(key, sort_keys=True, default=str)
    path = cache_dir / f"{hashlib.sha256(text.encode()).hexdigest()[:20]}.json"
    try:
        entry = json.loads(path.read_text())
        if entry["key"] == text:
            return float(entry["value"]), True
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: compute it again
    value = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with replacing(path) as partial:
        partial.write_text(json.dumps({"key": text, "value": value}))
    return value, False

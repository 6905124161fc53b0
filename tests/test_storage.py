"""The storage side of a search, in-process: heartbeats."""

from __future__ import annotations

import threading
import time

from sts_lab.search.storage import beating


def test_a_heartbeat_survives_a_failed_write():
    class FlakyStorage:
        def __init__(self):
            self.calls = 0

        def get_heartbeat_interval(self):
            return 0.05

        def record_heartbeat(self, trial_id):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("database is locked")

    flaky = FlakyStorage()
    with beating(flaky, [7]):
        time.sleep(0.4)
        assert any(t.name.startswith("optuna-heartbeat") and t.is_alive() for t in threading.enumerate())
    assert flaky.calls >= 3

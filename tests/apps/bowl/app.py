"""A plain Hydra app, not sts_lab: a bowl-shaped function of x and y, with switches that make a job fail, return
NaN, kill its process or wait. The sweeper must search it as it searches sts_lab (and it is the fast way to test
the sweeper: a trial takes milliseconds).

    python tests/apps/bowl/app.py --multirun hydra/sweeper=optuna 'x=interval(-4, 4)' 'y=choice(-2, 0, 2)'
"""

import math
import os
import signal
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def bowl(cfg: DictConfig) -> float:
    if cfg.data != "ok":
        raise FileNotFoundError(f"data={cfg.data}: no such data")
    if cfg.kill:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    if cfg.wait and cfg.wait_trial in (None, OmegaConf.select(cfg, "search.trial")):
        Path(cfg.wait).touch()  # tells the test this job runs
        time.sleep(60)
    time.sleep(cfg.sleep)
    if cfg.nan:
        return math.nan
    if cfg.improving:  # each later trial scores better (for tests that need a new best); a rerun as its trial
        return 100.0 - cfg.search.get("trial", cfg.search.get("rerun_of"))
    return (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2


if __name__ == "__main__":
    bowl()

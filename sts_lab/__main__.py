"""``python -m sts_lab [group=option ...] [key=value ...]``: one run, or a grid with ``--multirun``."""

from __future__ import annotations

import re
import sys

import hydra
from omegaconf import DictConfig

from sts_lab.names import objective_names

# The search's outer grid as the command line writes it, hydra.sweeper.grid_params.loss=cosine,cosent (or
# =choice(cosine,cosent)), is passed on as ++hydra.sweeper.grid_params.loss=[cosine,cosent]: Hydra refuses sweep
# syntax on its own keys ("Sweeping over Hydra's configuration is not supported") and a new key of its config
# without ++. A dotted key (grid_params.optimizer.warmup_ratio) becomes a nested node, which the sweeper flattens.
GRID_PARAM = re.compile(r"^(?:\+\+)?(hydra\.sweeper\.grid_params\.[\w.]+)=(.*)$")
CHOICE = re.compile(r"^choice\((.*)\)$")


def grid_params_as_lists(argv: list[str]) -> list[str]:
    def as_list(match: re.Match) -> str:
        key, value = match.groups()
        if choice := CHOICE.match(value.strip()):
            value = choice.group(1)
        return f"++{key}={value if value.startswith('[') else f'[{value}]'}"

    return [GRID_PARAM.sub(as_list, argument) for argument in argv]


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | list[float]:
    """Train, then return the objective (dev Spearman by default; never test) for sweepers to optimise:
    one value, or one per name when ``objective`` is a list (a multi-objective search)."""
    from sts_lab.job import run_job  # torch and sentence-transformers load here: --help and --cfg stay fast

    metrics = run_job(cfg)
    values = [metrics[name] for name in objective_names(cfg.objective)]
    return values[0] if isinstance(cfg.objective, str) else values


if __name__ == "__main__":
    sys.argv[1:] = grid_params_as_lists(sys.argv[1:])
    main()

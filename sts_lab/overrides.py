"""Hydra's override grammar, parsed in one place (the sweeper, the grid of a search and the report all read it)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


@cache
def parser() -> OverridesParser:
    return OverridesParser.create()


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    """``["loss=cosine", "optimizer.lr=interval(1e-5, 1e-4)"]`` -> Hydra's ``Override`` objects."""
    return parser().parse_overrides(list(overrides))


def override_key(override: str) -> str:
    """``+optimizer.lr=3e-5`` -> ``optimizer.lr``."""
    return parse_overrides([override])[0].get_key_element().lstrip("~+")

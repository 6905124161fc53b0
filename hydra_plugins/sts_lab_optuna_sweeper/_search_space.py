"""Hydra's override grammar -> Optuna distributions, as the official Optuna sweeper reads it.

- ``choice(a, b)`` and ``a,b`` -> CategoricalDistribution
- ``range(a, b, step)`` -> IntDistribution(a, b, step), or FloatDistribution(a, b, step) when any bound or the
  step is a float. The stop is *included*: Optuna's distributions are closed intervals, and the official
  plugin treats it so, except with ``sampler=grid``, where it excludes it like a Hydra grid sweep (``_grid``).
  A float value is rounded to the decimals of the step and the start (``0.3``, not ``0.30000000000000004``).
- ``interval(a, b)`` -> FloatDistribution; ``int(interval(a, b))`` -> IntDistribution
- ``tag(log, ...)`` on an interval -> the same with ``log=True``
- anything else (``key=5``, ``~key``, ``+key=[1,2]``) is fixed: passed to every trial as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from sts_lab.overrides import parse_overrides


@dataclass
class SearchSpace:
    """What a study searches (by override key, e.g. ``optimizer.lr`` or ``+extra``) and what every trial fixes."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)  # overrides as written, e.g. ["trainer.epochs=1", "~x"]


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override; ValueError naming the key for what Optuna cannot search."""
    key, sweep = override.get_key_element(), override.value()
    if isinstance(sweep, ChoiceSweep):
        if sweep.tags:
            raise ValueError(f"{key}: tags are not supported on choice(...)")
        return CategoricalDistribution(list(sweep.list))
    if isinstance(sweep, RangeSweep):
        if sweep.tags:
            raise ValueError(f"{key}: tags are not supported on range(...); use tag(log, interval(a, b))")
        bounds = (sweep.start, sweep.stop, sweep.step)
        if all(isinstance(value, int) for value in bounds):
            return IntDistribution(sweep.start, sweep.stop, step=sweep.step)
        return FloatDistribution(sweep.start, sweep.stop, step=sweep.step)
    if isinstance(sweep, IntervalSweep):
        unknown = set(sweep.tags) - {"log"}
        if unknown:
            raise ValueError(f"{key}: unknown tags {sorted(unknown)}; only 'log' is understood")
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(sweep.start, sweep.end, log=log)
    raise ValueError(f"{key}: {type(sweep).__name__} cannot be searched by Optuna")


def search_space(params: Mapping[str, str] | None, arguments: Sequence[str]) -> SearchSpace:
    """The space of ``hydra.sweeper.params`` (key -> override value) updated by the command line's overrides.

    A key set on both is taken from the command line, so ``optimizer.lr=3e-5`` there fixes a searched value. A
    param set to null is not searched (a config that extends a search drops one of its keys so).
    """
    by_key: dict[str, Override] = {}
    configured = [f"{key}={value}" for key, value in (params or {}).items() if value is not None]
    for override in parse_overrides(configured) + parse_overrides(arguments):
        by_key[override.get_key_element()] = override
    space = SearchSpace()
    for key, override in by_key.items():
        if override.is_sweep_override():
            space.distributions[key] = distribution(override)
        else:
            space.fixed.append(override.input_line)
    return space


def decimals(number: float) -> int:
    """Decimal places of a number as written: 0.1 -> 1, 2.5e-05 -> 6, 3 -> 0."""
    return max(0, -int(Decimal(repr(number)).normalize().as_tuple().exponent))


def rounded(value: Any, distribution: BaseDistribution) -> Any:
    """A stepped float as its grid writes it: the decimals of the step and the start."""
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        return round(value, max(decimals(distribution.step), decimals(distribution.low)))
    return value


def trial_overrides(params: Mapping[str, Any], distributions: Mapping[str, BaseDistribution]) -> list[str]:
    """A trial's parameters as the overrides its job gets."""
    return [f"{key}={rounded(value, distributions[key]) if key in distributions else value}" for key, value in params.items()]


def space_difference(before: dict[str, str], now: dict[str, str]) -> str:
    """Which searched params differ between two spaces (``{key: distribution JSON}``), in words."""
    differences = []
    for key in sorted(before.keys() | now.keys()):
        if key not in before:
            differences.append(f"{key} added")
        elif key not in now:
            differences.append(f"{key} removed")
        elif before[key] != now[key]:
            differences.append(f"{key} changed (was {before[key]}, now {now[key]})")
    return "; ".join(differences)

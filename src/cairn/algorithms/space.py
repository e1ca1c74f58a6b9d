"""The vocabulary of search spaces: one searched parameter is a float or int range, or a list of choices.

Plain data, no Optuna: the tuning stage turns a Dimension into a suggestion, and the config stays importable
without the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a float or int range (log-scaled or not) or a list of choices."""

    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()


def floats(low: float, high: float, *, log: bool = False) -> Dimension:
    return Dimension("float", low, high, log)


def ints(low: int, high: int, *, log: bool = False) -> Dimension:
    return Dimension("int", low, high, log)


def choice(*values: Any) -> Dimension:
    return Dimension("choice", choices=tuple(values))

"""How text stands for values: missing markers and numbers written as people write them.

Shared by the fitted encoder (a new record's '1,250' must read as at training) and by the data stage's type checks.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

MISSING_MARKERS: frozenset[str] = frozenset(
    {"", "na", "n/a", "n.a.", "n.a", "#n/a", "nan", "null", "none", "nil", "missing", "-", "--", "?"}
)
"""Text that stands for a missing value, after trimming and lower-casing."""


def factorized(values: pd.Series | np.ndarray) -> tuple[np.ndarray, Any]:
    """pandas' factorize (missing as -1), with a list or a mapping read from JSON lines taken as its text, as the
    encoder reads it: factorize cannot hash one."""
    try:
        return pd.factorize(values, use_na_sentinel=True)
    except TypeError:
        return pd.factorize(pd.Series(values).map(lambda v: v if isinstance(v, Hashable) else str(v)),
                            use_na_sentinel=True)

_TEXT_NUMBER = re.compile(
    r"""^\s*
    (?P<open>\()?\s*
    (?P<sign>[-+\u2212])?\s*
    (?P<currency>[$\u20ac\u00a3\u00a5]|(?:USD|EUR|GBP)\s?)?\s*
    (?P<sign2>[-+\u2212])?\s*
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)
    (?P<exponent>[eE][-+]?\d+)?\s*
    (?P<scale>[kKmMbB]|MM|mn|bn)?\s*
    (?P<percent>%)?\s*
    (?P<currency2>[$\u20ac\u00a3\u00a5]|(?:USD|EUR|GBP))?\s*
    (?P<close>\))?\s*$""",
    re.VERBOSE,
)
_SCALES = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "MM": 1e6, "mn": 1e6, "b": 1e9, "B": 1e9, "bn": 1e9}


def parse_text_number(value: object) -> float | None:
    """A number written the way people write them: '1,250', '$3.4k', '12%' (0.12), '(1,000)' (-1000), '2.5e3'.

    Returns None for anything else (words, missing values, booleans), so a caller can count what does not read.
    """
    if value is None or isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, Real):
        number = float(value)
        return None if np.isnan(number) else number
    if not isinstance(value, str):
        return None
    match = _TEXT_NUMBER.match(value)
    if match is None or bool(match["open"]) != bool(match["close"]):
        return None
    if match["sign"] and match["sign2"]:
        return None
    number = float(match["digits"].replace(",", "") + (match["exponent"] or ""))
    number *= _SCALES.get(match["scale"] or "", 1.0)
    if match["percent"]:
        number /= 100
    if match["open"]:
        number = -number
    if (match["sign"] or match["sign2"] or "+") in "-\u2212":
        number = -number
    return number


def parse_text_numbers(values: pd.Series) -> pd.Series:
    """parse_text_number over a column, as float64 with NaN where a value does not read; parses each distinct
    value once, so a column of 1M rows with 2,000 distinct values costs 2,000 parses."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    present = values.dropna()
    if present.empty:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    distinct = pd.unique(present)
    parsed = {value: parse_text_number(value) for value in distinct}
    return values.map(parsed).astype("float64")

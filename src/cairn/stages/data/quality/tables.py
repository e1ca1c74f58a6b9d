"""How the checks read the table: numbers parsed once, text columns as integer codes, seeded row samples.

Built once per profile and shared by the checks, so none of them re-parses or re-factorizes a column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.stages.data.types import MISSING_MARKERS, ColumnType, parse_text_numbers

SAMPLE_ROWS = 100_000
"""Rows looked at by the checks that cost more than a pass over the data."""
SEPARATORS = re.compile(r"[\s_\-]+")


def sample_positions(rows: int, *, size: int, seed: int) -> tuple[np.ndarray, str]:
    """Seeded positions of at most `size` rows, in order, and the words that say a sample was used."""
    if rows <= size:
        return np.arange(rows), ""
    positions = np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))
    return positions, f" (in a seeded sample of {size:,} of {rows:,} rows)"


def numeric_columns(table: pd.DataFrame, *, types: Mapping[str, ColumnType]) -> pd.DataFrame:
    """The columns that mean numbers, as float64: numbers stored as text are parsed, infinities are missing."""
    columns = {}
    for name in table.columns:
        column_type = types.get(str(name))
        if column_type is not None and column_type.kind == "number":
            columns[str(name)] = parse_text_numbers(table[name])
    numbers = pd.DataFrame(columns, index=table.index)
    return numbers.replace([np.inf, -np.inf], np.nan)


@dataclass(frozen=True)
class Levels:
    """A text column as integer codes (-1 where missing) into its distinct values, and how often each occurs.

    Built once per column: duplicates, near duplicates and leakage then work on integers, not strings.
    """

    codes: np.ndarray
    values: list[str]
    counts: np.ndarray

    def value_counts(self) -> pd.Series:
        """Rows per distinct value, most common first (ties in order of first appearance)."""
        order = np.argsort(-self.counts, kind="stable")
        return pd.Series(self.counts[order], index=pd.Index([self.values[i] for i in order], dtype=object),
                         dtype="int64")


def is_text(column: pd.Series) -> bool:
    """Stored as anything but numbers, booleans and datetimes: strings, objects, categoricals."""
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
                or pd.api.types.is_datetime64_any_dtype(column))


def text_levels(table: pd.DataFrame) -> dict[str, Levels]:
    """Every column stored as text, as codes into its distinct values (compared as text: 1 and '1' are one)."""
    levels = {}
    for name in table.columns:
        column = table[name]
        if not is_text(column):
            continue
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        as_text = [str(value) for value in uniques]
        text_codes, values = pd.factorize(np.array(as_text, dtype=object))
        codes = np.where(codes >= 0, text_codes[np.maximum(codes, 0)] if len(text_codes) else -1, -1)
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        levels[str(name)] = Levels(codes.astype("int64"), [str(value) for value in values], counts)
    return levels


def is_marker(values: pd.Index) -> np.ndarray:
    """Plain Python over distinct values: faster than string methods on a few hundred short strings."""
    return np.fromiter((str(value).strip().lower() in MISSING_MARKERS for value in values), dtype=bool,
                       count=len(values))


def spelling_key(values: pd.Index) -> list[str]:
    """Case, surrounding spaces and runs of space/underscore/hyphen do not make a different value."""
    return [SEPARATORS.sub(" ", str(value).strip().casefold()) for value in values]

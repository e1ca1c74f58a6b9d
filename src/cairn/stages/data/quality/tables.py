"""How the checks read the table: numbers parsed once, text columns as integer codes, seeded row samples.

Built once per profile and shared by the checks, so none of them re-parses or re-factorizes a column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.stages.data.types import MISSING_MARKERS, ColumnType, number_blocks, parse_text_numbers

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
    """The columns that mean numbers, as float64: numbers stored as text are parsed, infinities are missing.

    Columns stored as numpy numbers are cast in one block (what `parse_text_numbers` does to each of them): on
    5,000 columns, one Series per column cost more than the parsing."""
    wanted = [name for name in table.columns
              if (column_type := types.get(str(name))) is not None and column_type.kind == "number"]
    dtypes = dict(zip(table.columns, table.dtypes, strict=True))
    stored = [name for name in wanted if is_plain_number(dtypes[name])]
    plain = set(stored)
    numbers = float_block(table[stored])
    numbers.columns = [str(name) for name in stored]
    parsed = {str(name): parse_text_numbers(table[name]) for name in wanted if name not in plain}
    if parsed:
        numbers = pd.concat([numbers, pd.DataFrame(parsed, index=table.index).replace([np.inf, -np.inf], np.nan)],
                            axis=1)
        numbers = numbers[[str(name) for name in wanted]]
    return numbers


def float_block(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns stored as numpy numbers as one float64 copy, infinities missing: one cast for thousands of columns
    where a Series each cost more than the work."""
    block = frame.to_numpy(dtype="float64", copy=True)
    np.putmask(block, np.isinf(block), np.nan)  # in place: the block is this function's own copy
    return pd.DataFrame(block, index=frame.index, columns=frame.columns, copy=False)


def is_plain_number(dtype: object) -> bool:
    """Stored as a numpy integer or float (not a boolean, not a nullable extension type)."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


@dataclass(frozen=True)
class Tallies:
    """Per column of numbers: distinct present values, rows of the most common one (0 if none), missing rows."""

    distinct: pd.Series
    top: pd.Series
    missing: pd.Series


def number_tallies(table: pd.DataFrame) -> Tallies:
    """What `value_counts` would say of every column stored as numpy numbers (`is_plain_number`), in one sort per
    dtype instead of one hash table per column; other columns are left out. NaN is missing, -0.0 equals 0.0, an
    infinity is a value, as in `value_counts`."""
    names: list[object] = []
    distinct, top, missing = [], [], []
    for block, values in number_blocks(table, kinds="iuf"):
        names += block
        for part, counted in zip((distinct, top, missing), _tallies(values), strict=True):
            part.append(counted)
    index = pd.Index(names, dtype=object)
    return Tallies(*(pd.Series(np.concatenate(part) if part else [], index=index, dtype="int64")
                     for part in (distinct, top, missing)))


def _tallies(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values, longest run of one value and missing count per column of a 2-D array, from one sort."""
    rows, columns = values.shape
    if not rows:
        zeros = np.zeros(columns, dtype="int64")
        return zeros, zeros, zeros
    ordered = np.sort(values, axis=0)  # NaN sorts last
    present = ~np.isnan(ordered) if ordered.dtype.kind == "f" else np.ones(ordered.shape, dtype=bool)
    starts = present.copy()
    starts[1:] &= ordered[1:] != ordered[:-1]
    flat_starts, flat_present = starts.T.ravel(), present.T.ravel()  # column after column
    runs = np.cumsum(flat_starts) - 1  # each present row's run: a column's first present row always starts one
    lengths = np.bincount(runs[flat_present], minlength=int(flat_starts.sum()))
    top = np.zeros(columns, dtype="int64")
    np.maximum.at(top, np.flatnonzero(flat_starts) // rows, lengths)
    return starts.sum(axis=0), top, rows - present.sum(axis=0)


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

"""Checks of whole rows: exact and conflicting duplicates, near duplicates, rows that are mostly empty.

They share the row hashing here: every column as one array, combined into one 64-bit hash per row.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from cairn.config.schema import Quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.tables import SAMPLE_ROWS, Levels, is_marker, sample_positions, spelling_key
from cairn.stages.data.quality.wording import plural, row_numbers, verb

SIGNIFICANT_DIGITS = 4
"""Near duplicates: numbers equal once rounded to this many significant digits."""

CHANCE_SHARE = 0.1
"""Exact copies are taken for distinct records that agree by chance when chance alone, the columns taken as
independent, gives at least this share of the pairs of identical rows seen. Real columns are mostly correlated,
which makes repeats more likely than that estimate, hence the margin. Coarse survey-like data (a handful of values
per column) lands far above it; a double-loaded row among continuous measures far below."""


def _column_arrays(table: pd.DataFrame, levels: Mapping[str, Levels]) -> dict[str, np.ndarray]:
    """Every column as one numpy array, text as its level codes: hashing and sampling integers is fast."""
    arrays = {}
    for name in table.columns:
        label = str(name)
        column = table[name]
        if label in levels:
            arrays[label] = levels[label].codes
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
            arrays[label] = column.to_numpy()  # exact, even for 64-bit identifiers
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            arrays[label] = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN, and -0.0 is 0.0
        else:
            arrays[label] = column.to_numpy()
    return arrays


def _value_hashes(values: np.ndarray) -> np.ndarray:
    try:
        return pd.util.hash_array(values)
    except TypeError:  # lists or dicts from JSON: compare their text
        return pd.util.hash_array(values.astype(str))


def _row_hashes(columns: Collection[np.ndarray], rows: int) -> np.ndarray:
    """One 64-bit hash per row, combining the columns' value hashes: equal rows hash equal."""
    combined = np.zeros(rows, dtype=np.uint64)
    for values in columns:
        combined = combined * np.uint64(1_000_003) ^ _value_hashes(values)
    return combined


def copy_pairs(counts: np.ndarray) -> int:
    """The pairs of identical rows, from the count of rows of each distinct row."""
    counts = counts.astype("int64")
    return int((counts * (counts - 1) // 2).sum())


def chance_repeats(value_counts: Iterable[np.ndarray], rows: int, *, copies: int) -> float:
    """How many pairs of rows would agree on every column by chance, were the columns independent: the pairs
    times, per column, the share of pairs of rows that agree on it. The `copies` (pairs of identical rows, which
    agree on every column) are left out of each column's share, so a copy does not vouch for itself: a column of
    measurements, each value its own but for the copies, makes chance repeats impossible. `value_counts` holds
    each column's count of rows per distinct value (missing counted as a value)."""
    total = rows * (rows - 1) // 2 - copies
    if total <= 0:
        return 0.0
    logged = math.log(total)
    for counts in value_counts:
        shared = (copy_pairs(counts) - copies) / total
        if shared <= 0.0:
            return 0.0
        logged += math.log(shared)
        if logged < -50:  # a wide table of many-valued columns: no chance repeat, stop early
            return 0.0
    return math.exp(min(logged, 700.0))


def pairs(expected: float) -> str:
    """An expected count as a person reads it: 5,940, 3, 0.4."""
    return f"{expected:,.0f}" if expected >= 1 else f"{expected:.1g}"


def repeats_by_chance(expected_pairs: float, copies: int) -> bool:
    """Whether chance explains `copies` pairs of identical rows (see CHANCE_SHARE): distinct records agreeing,
    not a double load."""
    return copies > 0 and expected_pairs >= CHANCE_SHARE * copies


def chance_words(expected_pairs: float, copies: int, count: int) -> str:
    """Why `count` exact copies are taken for distinct records, in a clause."""
    which = "it is likely a distinct record" if count == 1 else "they are likely distinct records"
    return (f"with so few values per column, chance alone would give about {pairs(expected_pairs)} pairs of "
            f"identical rows against the {copies:,} seen, so {which}")


def _repeats(hashes: np.ndarray) -> np.ndarray:
    """True where a row equals an earlier one."""
    return pd.Series(hashes).duplicated().to_numpy()


# --- empty rows ----------------------------------------------------------------------------------------------------


def mostly_empty_rows(table: pd.DataFrame, *, spec: Quality) -> list[Finding]:
    """Rows missing more than `row_missing_warn` of their values: often a broken export or a footer."""
    if table.empty or not len(table.columns):
        return []
    empty = (table.isna().mean(axis=1) > spec.row_missing_warn).to_numpy()
    count = int(empty.sum())
    if not count:
        return []
    return [Finding("warn", "mostly empty rows", [], count,
                    f"{plural(count, 'row')} {verb(count, 'misses', 'miss')} more than {spec.row_missing_warn:.0%} of "
                    f"{verb(count, 'its', 'their')} values "
                    f"({row_numbers(empty)})")]


# --- duplicates ----------------------------------------------------------------------------------------------------


def duplicate_rows(table: pd.DataFrame, *, levels: Mapping[str, Levels], target: str) -> list[Finding]:
    """Exact copies, and rows whose features repeat an earlier row's with another target (label noise)."""
    findings = []
    arrays = _column_arrays(table, levels)
    rows = _row_hashes(arrays.values(), len(table))
    repeated = _repeats(rows)
    count = int(repeated.sum())
    if count:
        copies = copy_pairs(np.unique(rows, return_counts=True)[1])
        expected = chance_repeats((np.unique(_value_hashes(values), return_counts=True)[1]
                                   for values in arrays.values()), len(table), copies=copies)
        them = verb(count, "it", "them")
        if repeats_by_chance(expected, copies):
            fate = (f"{chance_words(expected, copies, count)}, and preprocessing.duplicates: auto keeps {them} "
                    f"(drop removes {them})")
        else:
            fate = f"preprocessing.duplicates: auto or drop removes {them}"
        findings.append(Finding("warn", "duplicate rows", [], count,
                                f"{plural(count, 'row')} {verb(count, 'repeats', 'repeat')} an earlier row exactly "
                                f"({row_numbers(repeated)}); {fate}"))
    if target not in arrays or len(arrays) < 2:
        return findings
    labelled = table[target].notna().to_numpy()
    features = _row_hashes([values for name, values in arrays.items() if name != target], len(table))
    conflicting = _repeats(features[labelled]) & ~_repeats(rows[labelled])
    count = int(conflicting.sum())
    if count:
        # a warning, never an error: coarse features with a continuous target repeat naturally (a noise
        # ceiling worth knowing, not a reason to refuse the data)
        share = count / max(int(labelled.sum()), 1)
        flags = np.zeros(len(table), dtype=bool)
        flags[np.flatnonzero(labelled)[conflicting]] = True
        findings.append(Finding("warn", "conflicting duplicates", [target], count,
                                f"{plural(count, 'row')} ({share:.1%}) {verb(count, 'repeats', 'repeat')} the features "
                                "of an earlier row with "
                                f"a different {target} ({row_numbers(flags)}); the data disagrees with itself "
                                "there, which bounds how well any model can do"))
    return findings


def near_duplicates(table: pd.DataFrame, *, levels: Mapping[str, Levels], seed: int = 0,
                    sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """Rows equal to an earlier row once numbers are rounded and text is trimmed and lower-cased, but not exact
    copies: re-entered records that `preprocessing.duplicates: drop` does not catch."""
    positions, sampled = sample_positions(len(table), size=sample_rows, seed=seed)
    if len(positions) < 2:
        return []
    exact, normal = [], []
    for name, values in _column_arrays(table, levels).items():
        values = values[positions]
        exact.append(values)
        if name in levels:
            spellings = levels[name].values
            keys = np.where(is_marker(spellings), None, np.array(spelling_key(spellings), dtype=object))
            canonical, _ = pd.factorize(keys)  # markers become -1, like a missing value
            normal.append(np.where(values >= 0, canonical[np.maximum(values, 0)] if len(canonical) else -1, -1))
        elif values.dtype.kind in "iuf":
            normal.append(_rounded(values.astype("float64")))
        else:
            normal.append(values)
    near = _repeats(_row_hashes(normal, len(positions))) & ~_repeats(_row_hashes(exact, len(positions)))
    count = int(near.sum())
    if not count:
        return []
    flags = np.zeros(len(table), dtype=bool)
    flags[positions[near]] = True
    return [Finding("info", "near duplicates", [], count,
                    f"{plural(count, 'row')} {verb(count, 'equals', 'equal')} an earlier row once numbers are "
                    f"rounded to {SIGNIFICANT_DIGITS} "
                    f"significant digits and text is trimmed and lower-cased ({row_numbers(flags)}){sampled}; "
                    f"{verb(count, 'it is not an exact copy', 'they are not exact copies')}, so preprocessing keeps "
                    f"{verb(count, 'it', 'them')}")]


def _rounded(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
        scale = np.power(10.0, SIGNIFICANT_DIGITS - 1 - np.where(np.isfinite(magnitude), magnitude, 0))
        rounded = np.round(values * scale) / scale + 0.0
        return np.where(np.isnan(values), np.nan, np.where(values == 0, 0.0, rounded))

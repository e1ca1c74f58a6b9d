"""Data-quality checks: one function per check, each returning the findings it makes.

Every check is a plain function of the table (and what was inferred about it); `profile_table` in `profile.py`
runs them all. Severity says what to do: `error` stops the run under the default `data.quality.fail_on`, `warn`
deserves a look, `info` is context. Any data value a finding shows (in `example` or `detail`) has gone through
`mask`, so the privacy module can hide personal data before it reaches a report, a log or the store.

The costly checks (near duplicates, leakage) look at a seeded sample of at most `SAMPLE_ROWS` rows and say so.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cairn.config.schema import ColumnRule, Quality
from cairn.stages.data.types import (
    MISSING_MARKERS,
    ColumnType,
    Mask,
    name_tokens,
    parse_text_dates,
    parse_text_number,
    parse_text_numbers,
)

SAMPLE_ROWS = 100_000
"""Rows looked at by the checks that cost more than a pass over the data."""
LEAKAGE_FOLDS = 5
LEAKAGE_MIN_VALUES = 30
"""A correlation on fewer present values than this is chance, not evidence."""
DERIVED_WORDS = frozenset({"copy", "orig", "original", "raw", "log", "new", "old", "clean", "cleaned", "value",
                           "scaled", "norm", "normalized", "true", "actual", "final", "pred", "predicted", "hat"})
"""'target_copy', 'target_log', 'target2': names that say a column is the target in another form."""
ROWS_PER_FOLD = 20
"""Fewer rows than this in a cross-validation fold make its score noise."""
SIGNIFICANT_DIGITS = 4
"""Near duplicates: numbers equal once rounded to this many significant digits."""
SHOWN = 3
"""At most this many values or groups are named in one finding."""

NON_NEGATIVE_WORDS: dict[str, str] = {
    "area": "an area", "sqft": "an area", "sf": "an area", "footage": "an area", "size": "a size",
    "price": "a price", "cost": "a cost", "count": "a count", "age": "an age", "year": "a year", "yr": "a year",
    "years": "a duration in years",
}
"""Words in a column name that rule out negative values, and what such a value is called."""
SIGNED_WORDS = frozenset({"change", "delta", "diff", "difference", "growth", "return", "log", "pct", "ratio",
                          "offset", "balance", "profit", "net"})
YEAR_WORDS = frozenset({"year", "yr"})
AGE_UNITS = frozenset({"days", "day", "weeks", "months", "month", "hours", "minutes", "seconds", "ms"})
SEPARATORS = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class Finding:
    """One data-quality observation: how serious it is, which columns, how many rows, and what to do."""

    severity: str  # "info" | "warn" | "error"
    check: str  # short name, e.g. "missing values", "target leakage"
    columns: list[str]
    count: int  # rows (or values) involved
    detail: str  # one plain sentence
    example: str | None = None  # one value, through `mask`


def _plain(value: object) -> object:
    """2031.0 reads as 2031: a column with a missing value is stored as floats, but its values are whole."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _quoted(mask: Mask, column: str, value: object) -> str:
    return f"'{mask(column, _plain(value))}'"


def _masked(mask: Mask, column: str, value: object) -> str:
    return mask(column, _plain(value))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _row_numbers(flags: np.ndarray) -> str:
    """Where to look: the first flagged rows, counted from 1 as a spreadsheet shows data rows."""
    positions = np.flatnonzero(flags)[:SHOWN] + 1
    word = "row " if flags.sum() == 1 else "rows "
    return word + ", ".join(f"{p:,}" for p in positions) + (" ..." if flags.sum() > SHOWN else "")


def _sample_positions(rows: int, *, size: int, seed: int) -> tuple[np.ndarray, str]:
    """Seeded positions of at most `size` rows, in order, and the words that say a sample was used."""
    if rows <= size:
        return np.arange(rows), ""
    positions = np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))
    return positions, f" (in a seeded sample of {size:,} of {rows:,} rows)"


# --- what the checks share ---------------------------------------------------------------------------------------


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


def _is_marker(values: pd.Index) -> np.ndarray:
    """Plain Python over distinct values: faster than string methods on a few hundred short strings."""
    return np.fromiter((str(value).strip().lower() in MISSING_MARKERS for value in values), dtype=bool,
                       count=len(values))


def _spelling_key(values: pd.Index) -> list[str]:
    """Case, surrounding spaces and runs of space/underscore/hyphen do not make a different value."""
    return [SEPARATORS.sub(" ", str(value).strip().casefold()) for value in values]


def _row_hashes(columns: Collection[np.ndarray], rows: int) -> np.ndarray:
    """One 64-bit hash per row, combining the columns' value hashes: equal rows hash equal."""
    combined = np.zeros(rows, dtype=np.uint64)
    for values in columns:
        try:
            hashed = pd.util.hash_array(values)
        except TypeError:  # lists or dicts from JSON: compare their text
            hashed = pd.util.hash_array(values.astype(str))
        combined = combined * np.uint64(1_000_003) ^ hashed
    return combined


def _repeats(hashes: np.ndarray) -> np.ndarray:
    """True where a row equals an earlier one."""
    return pd.Series(hashes).duplicated().to_numpy()


# --- missing values ------------------------------------------------------------------------------------------------


def missing_values(table: pd.DataFrame, *, target: str, spec: Quality) -> list[Finding]:
    """Per column: a share above `missing_warn` is a warning; any missing value is worth knowing."""
    findings = []
    missing = table.isna().sum()
    rows = len(table)
    for name, count in missing[missing > 0].sort_values(ascending=False).items():
        if name == target or count == rows:
            continue  # the missing target and empty columns have their own checks
        share = count / rows
        severity = "warn" if share > spec.missing_warn else "info"
        findings.append(Finding(severity, "missing values", [str(name)], int(count),
                                f"{name} is missing in {share:.1%} of rows ({count:,})"))
    return findings


def missing_target(table: pd.DataFrame, *, target: str) -> list[Finding]:
    if target not in table.columns:
        return []
    count = int(table[target].isna().sum())
    if not count:
        return []
    return [Finding("warn", "missing target", [target], count,
                    f"{_plural(count, 'row')} have no {target}; they are left out of training")]


def mostly_empty_rows(table: pd.DataFrame, *, spec: Quality) -> list[Finding]:
    """Rows missing more than `row_missing_warn` of their values: often a broken export or a footer."""
    if table.empty or not len(table.columns):
        return []
    empty = (table.isna().mean(axis=1) > spec.row_missing_warn).to_numpy()
    count = int(empty.sum())
    if not count:
        return []
    return [Finding("warn", "mostly empty rows", [], count,
                    f"{_plural(count, 'row')} miss more than {spec.row_missing_warn:.0%} of their values "
                    f"({_row_numbers(empty)})")]


# --- duplicates ----------------------------------------------------------------------------------------------------


def duplicate_rows(table: pd.DataFrame, *, levels: Mapping[str, Levels], target: str) -> list[Finding]:
    """Exact copies, and rows whose features repeat an earlier row's with another target (label noise)."""
    findings = []
    arrays = _column_arrays(table, levels)
    rows = _row_hashes(arrays.values(), len(table))
    repeated = _repeats(rows)
    count = int(repeated.sum())
    if count:
        findings.append(Finding("warn", "duplicate rows", [], count,
                                f"{_plural(count, 'row')} repeat an earlier row exactly ({_row_numbers(repeated)}); "
                                "preprocessing.duplicates: drop removes them"))
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
                                f"{_plural(count, 'row')} ({share:.1%}) repeat the features of an earlier row with "
                                f"a different {target} ({_row_numbers(flags)}); the data disagrees with itself "
                                "there, which bounds how well any model can do"))
    return findings


def near_duplicates(table: pd.DataFrame, *, levels: Mapping[str, Levels], seed: int = 0,
                    sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """Rows equal to an earlier row once numbers are rounded and text is trimmed and lower-cased, but not exact
    copies: re-entered records that `preprocessing.duplicates: drop` does not catch."""
    positions, sampled = _sample_positions(len(table), size=sample_rows, seed=seed)
    if len(positions) < 2:
        return []
    exact, normal = [], []
    for name, values in _column_arrays(table, levels).items():
        values = values[positions]
        exact.append(values)
        if name in levels:
            spellings = levels[name].values
            keys = np.where(_is_marker(spellings), None, np.array(_spelling_key(spellings), dtype=object))
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
                    f"{_plural(count, 'row')} equal an earlier row once numbers are rounded to {SIGNIFICANT_DIGITS} "
                    f"significant digits and text is trimmed and lower-cased ({_row_numbers(flags)}){sampled}; "
                    "they are not exact copies, so preprocessing keeps them")]


def _rounded(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
        scale = np.power(10.0, SIGNIFICANT_DIGITS - 1 - np.where(np.isfinite(magnitude), magnitude, 0))
        rounded = np.round(values * scale) / scale + 0.0
        return np.where(np.isnan(values), np.nan, np.where(values == 0, 0.0, rounded))


# --- columns that carry little -------------------------------------------------------------------------------------


def constant_columns(table: pd.DataFrame, *, levels: Mapping[str, Levels], spec: Quality,
                     mask: Mask) -> list[Finding]:
    """Empty, single-valued and almost single-valued columns: they carry no or almost no information."""
    findings = []
    rows = len(table)
    for name in table.columns:
        label = str(name)
        counts = levels[label].value_counts() if label in levels else table[name].value_counts(sort=True)
        present = int(counts.sum())
        if not present:
            findings.append(Finding("warn", "empty column", [label], rows, f"{label} has no values at all"))
            continue
        top, top_count = counts.index[0], int(counts.iloc[0])
        if len(counts) == 1:
            otherwise = f" (missing in the other {rows - present:,} rows)" if present < rows else ""
            findings.append(Finding("warn", "constant column", [label], present,
                                    f"{label} takes a single value, {_quoted(mask, label, top)}{otherwise}; "
                                    "it carries no information", _masked(mask, label, top)))
        elif top_count / rows >= spec.near_constant:
            findings.append(Finding("warn", "almost constant", [label], top_count,
                                    f"{label} is {_quoted(mask, label, top)} in {top_count / rows:.1%} of rows; "
                                    f"the other {rows - top_count:,} rows are too few to learn from",
                                    _masked(mask, label, top)))
    return findings


# --- types ---------------------------------------------------------------------------------------------------------


def type_findings(table: pd.DataFrame, *, types: Mapping[str, ColumnType], target: str) -> list[Finding]:
    """What the inferred types mean for the pipeline: text to parse, identifiers and free text to leave out."""
    findings = []
    filled = {str(name): int(count) for name, count in table.count().items()}
    for name, column_type in types.items():
        count = filled.get(name, 0)
        if column_type.overridden:
            if column_type.kind in {"number", "date", "boolean"} and column_type.convertible < 0.9:
                findings.append(Finding(
                    "warn", "type override", [name], count,
                    f"data.types makes {name} a {column_type.kind}, but only {column_type.convertible:.0%} of its "
                    f"values read as one; the others become missing"))
            continue
        if column_type.kind == "number" and column_type.stored == "text":
            findings.append(Finding(
                "warn", "numbers as text", [name], count,
                f"{name} holds {column_type.detail}; {column_type.convertible:.0%} of its values read as numbers "
                "(preprocessing.text_numbers reads them)", column_type.example))
        elif column_type.kind == "date" and column_type.stored == "text":
            if len(column_type.formats) > 1:
                findings.append(Finding(
                    "warn", "mixed date formats", [name], count,
                    f"{name} holds {column_type.detail}: more than one format in one column, so a date such "
                    "as 03/04 may be read the wrong way round", column_type.example))
            else:
                findings.append(Finding("info", "dates as text", [name], count,
                                        f"{name} holds {column_type.detail}", column_type.example))
        elif column_type.kind == "id" and name != target:
            findings.append(Finding(
                "info", "identifier", [name], count,
                f"{name} looks like an identifier ({column_type.detail}); a model learns nothing general from it, "
                "so list it in data.drop_columns"))
        elif column_type.kind == "text" and name != target:
            findings.append(Finding("info", "free text", [name], count, f"{name} holds {column_type.detail}"))
        elif column_type.kind == "category" and column_type.example is not None:
            findings.append(Finding("info", "digit codes", [name], count,
                                    f"{name} holds {column_type.detail}: codes, not numbers", column_type.example))
    return findings


def mixed_types(levels: Mapping[str, Levels], *, types: Mapping[str, ColumnType], mask: Mask) -> list[Finding]:
    """Numbers and words in one column: a number column with stray words, or a category mixing both."""
    findings = []
    for name, level in levels.items():
        column_type = types[name]
        counts = level.value_counts()
        counts = counts[~_is_marker(counts.index)]
        if counts.empty or column_type.kind not in {"number", "date", "category"}:
            continue
        values = pd.Series(counts.index, index=counts.index)
        if column_type.kind == "date":
            readable = parse_text_dates(values, column_type.formats).notna().to_numpy()
        else:
            readable = np.fromiter((parse_text_number(value) is not None for value in counts.index), dtype=bool,
                                   count=len(counts))
        read, unread = int(counts[readable].sum()), int(counts[~readable].sum())
        total = read + unread
        if column_type.kind in {"number", "date"} and unread:
            odd = values[~readable].iloc[0]
            findings.append(Finding(
                "warn", "mixed types", [name], unread,
                f"{name} is mostly {column_type.kind}s but {_plural(unread, 'value')} are not, such as "
                f"{_quoted(mask, name, odd)}; they become missing", mask(name, odd)))
        elif column_type.kind == "category" and read and read / total >= 0.01 and unread / total >= 0.01:
            number, word = values[readable].iloc[0], values[~readable].iloc[0]
            findings.append(Finding(
                "warn", "mixed types", [name], read,
                f"{name} mixes numbers ({read / total:.0%}, such as {_quoted(mask, name, number)}) and words "
                f"({unread / total:.0%}, such as {_quoted(mask, name, word)})", mask(name, number)))
    return findings


# --- spellings -----------------------------------------------------------------------------------------------------


def missing_markers(levels: Mapping[str, Levels], *, mask: Mask) -> list[Finding]:
    """Text that means 'missing' ('N/A', 'NA', '', 'null'): read as a level of its own unless cleaned."""
    findings = []
    for name, level in levels.items():
        counts = level.value_counts()
        markers = counts[_is_marker(counts.index)]
        if markers.empty:
            continue
        named = ", ".join(f"{_quoted(mask, name, value)} ({count:,})" for value, count in markers.iloc[:SHOWN].items())
        more = f" and {len(markers) - SHOWN} more" if len(markers) > SHOWN else ""
        findings.append(Finding(
            "warn", "missing-value markers", [name], int(markers.sum()),
            f"{name} writes missing values as text: {named}{more}; preprocessing.normalize_categories reads them as "
            "missing", mask(name, markers.index[0])))
    return findings


def inconsistent_spellings(levels: Mapping[str, Levels], *, types: Mapping[str, ColumnType],
                           mask: Mask) -> list[Finding]:
    """One value written several ways ('North_Ames', 'north_ames ', 'NORTH_AMES'): split into levels that mean the
    same; and values with stray surrounding spaces."""
    findings = []
    for name, level in levels.items():
        if types[name].kind not in {"category", "boolean"}:
            continue
        counts = level.value_counts()
        counts = counts[~_is_marker(counts.index)]
        if counts.empty:
            continue
        groups: dict[str, list[tuple[str, int]]] = {}
        for key, (value, count) in zip(_spelling_key(counts.index), counts.items(), strict=True):
            groups.setdefault(key, []).append((str(value), int(count)))  # most common spelling first
        variants = sorted((group for group in groups.values() if len(group) > 1),
                          key=lambda group: -sum(count for _, count in group))
        if variants:
            shown = "; ".join(", ".join(f"{_quoted(mask, name, value)} ({count:,})" for value, count in group)
                              for group in variants[:SHOWN])
            more = f"; and {len(variants) - SHOWN} more" if len(variants) > SHOWN else ""
            off = sum(count for group in variants for _, count in group[1:])
            findings.append(Finding(
                "warn", "inconsistent spellings", [name], off,
                f"{name} writes {_plural(len(variants), 'value')} in several ways: {shown}{more}; "
                f"{off:,} rows differ from the usual spelling (preprocessing.normalize_categories unifies them)",
                mask(name, variants[0][1][0])))
        padded = [(value, count) for group in groups.values() if len(group) == 1 for value, count in group
                  if value != value.strip()]
        if padded:
            count = sum(count for _, count in padded)
            shown = ", ".join(f"{_quoted(mask, name, value)} ({count:,})" for value, count in padded[:SHOWN])
            findings.append(Finding("info", "stray whitespace", [name], count,
                                    f"{name} has values with surrounding spaces: {shown}", mask(name, padded[0][0])))
    return findings


# --- ranges --------------------------------------------------------------------------------------------------------


def rule_violations(table: pd.DataFrame, *, types: Mapping[str, ColumnType], numbers: pd.DataFrame,
                    rules: Mapping[str, ColumnRule], today: date, mask: Mask) -> list[Finding]:
    """Values outside the ranges of data.quality.rules: the user said they cannot happen, so they are errors."""
    findings = []
    columns = {str(name): name for name in table.columns}
    for name, rule in rules.items():
        if name not in types or name not in columns:
            continue  # unknown_columns reports it
        column_type, column = types[name], table[columns[name]]
        if rule.min is not None or rule.max is not None:
            values = numbers[name] if name in numbers else parse_text_numbers(column)
            if values.notna().sum() == 0:
                findings.append(Finding("error", "out of range", [name], 0,
                                        f"data.quality.rules sets a min/max for {name}, but it holds no numbers"))
            else:
                low = (values < rule.min).to_numpy() if rule.min is not None else np.zeros(len(values), bool)
                high = (values > rule.max).to_numpy() if rule.max is not None else np.zeros(len(values), bool)
                count = int((low | high).sum())
                if count:
                    bounds = " and ".join(f"{word} {bound:,g}" for word, bound in (("min", rule.min), ("max", rule.max))
                                          if bound is not None)
                    worst = values[low].min() if low.any() else values[high].max()
                    findings.append(Finding(
                        "error", "out of range", [name], count,
                        f"{name} has {_plural(count, 'value')} outside data.quality.rules ({bounds}): "
                        f"{int(low.sum()):,} below, {int(high.sum()):,} above, such as {_quoted(mask, name, worst)}",
                        _masked(mask, name, worst)))
        if rule.not_future:
            findings += _future_values(column, column_type, numbers=numbers, today=today, mask=mask)
    return findings


def _future_values(column: pd.Series, column_type: ColumnType, *, numbers: pd.DataFrame, today: date,
                   mask: Mask) -> list[Finding]:
    name = column_type.name
    if column_type.kind == "date":
        dates = parse_text_dates(column, column_type.formats)
        future = (dates > pd.Timestamp(today) + pd.Timedelta(days=1)).to_numpy()
        latest = dates[future].max() if future.any() else None
        shown = latest.date().isoformat() if latest is not None else None
        limit = today.isoformat()
    elif name in numbers:
        future = (numbers[name] > today.year).to_numpy()
        shown = numbers[name][future].max() if future.any() else None
        limit = str(today.year)
    else:
        return [Finding("error", "out of range", [name], 0,
                        f"data.quality.rules sets not_future for {name}, but it holds neither dates nor years")]
    count = int(future.sum())
    if not count:
        return []
    return [Finding("error", "out of range", [name], count,
                    f"{name} has {_plural(count, 'value')} after today ({limit}), which data.quality.rules forbids "
                    f"(not_future), such as {_quoted(mask, name, shown)}", _masked(mask, name, shown))]


def implausible_values(numbers: pd.DataFrame, *, today: date, skip: Collection[str], mask: Mask) -> list[Finding]:
    """Values the column's name rules out: a negative area, price, count or age; a year after next year; an age
    over 120. Columns with an explicit rule in data.quality.rules are left to it."""
    findings = []
    for name in numbers.columns:
        if name in skip:
            continue
        values, words = numbers[name], set(name_tokens(name))
        present = values.dropna()
        if present.empty:
            continue
        if words & NON_NEGATIVE_WORDS.keys() and not words & SIGNED_WORDS:
            negative = (values < 0).to_numpy()
            if negative.any():
                worst = present.min()
                kind = NON_NEGATIVE_WORDS[min(words & NON_NEGATIVE_WORDS.keys())]
                findings.append(Finding(
                    "warn", "implausible values", [name], int(negative.sum()),
                    f"{name} has {_plural(int(negative.sum()), 'negative value')}, such as "
                    f"{_quoted(mask, name, worst)}; {kind} cannot be negative ({_row_numbers(negative)})",
                    _masked(mask, name, worst)))
        if words & YEAR_WORDS and 1000 <= present.median() <= 2200:
            late = (values > today.year + 1).to_numpy()
            if late.any():
                worst = present.max()
                findings.append(Finding(
                    "warn", "implausible values", [name], int(late.sum()),
                    f"{name} has {_plural(int(late.sum()), 'year')} after {today.year + 1}, such as "
                    f"{_quoted(mask, name, worst)} ({_row_numbers(late)})", _masked(mask, name, worst)))
        if "age" in words and not words & AGE_UNITS:
            old = (values > 120).to_numpy()
            if old.any():
                worst = present.max()
                findings.append(Finding(
                    "warn", "implausible values", [name], int(old.sum()),
                    f"{name} has {_plural(int(old.sum()), 'age')} over 120, such as {_quoted(mask, name, worst)} "
                    f"({_row_numbers(old)})", _masked(mask, name, worst)))
    return findings


def outliers(numbers: pd.DataFrame, *, spec: Quality, mask: Mask) -> list[Finding]:
    """Far values per number column, by IQR fences and by robust z-score (median/MAD): context, not faults."""
    findings = []
    for name in numbers.columns:
        column = numbers[name].to_numpy(dtype="float64")
        values = column[~np.isnan(column)]
        if len(values) < 20:
            continue
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        iqr, mad = q3 - q1, float(np.median(np.abs(values - median)))
        flagged, parts = np.zeros(len(values), dtype=bool), []
        if iqr > 0:
            by_iqr = (values < q1 - spec.outlier_iqr * iqr) | (values > q3 + spec.outlier_iqr * iqr)
            flagged |= by_iqr
            parts.append(f"{int(by_iqr.sum()):,} beyond {spec.outlier_iqr:g} IQR of the quartiles")
        if mad > 0:
            by_z = 0.6745 * np.abs(values - median) / mad > spec.outlier_z
            flagged |= by_z
            parts.append(f"{int(by_z.sum()):,} with robust z-score above {spec.outlier_z:g}")
        count = int(flagged.sum())
        if not count:
            continue
        far = values[flagged]
        worst = far[np.argmax(np.abs(far - median))]
        findings.append(Finding("info", "outliers", [name], count,
                                f"{name} has {_plural(count, 'outlier')} ({', '.join(parts)}); the farthest is "
                                f"{_quoted(mask, name, worst)}", _masked(mask, name, worst)))
    return findings


# --- the target ----------------------------------------------------------------------------------------------------


def target_leakage(table: pd.DataFrame, *, levels: Mapping[str, Levels], target: str, problem: str,
                   types: Mapping[str, ColumnType], numbers: pd.DataFrame, spec: Quality,
                   drop_columns: Collection[str] = (), seed: int = 0, sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """Features that give the target away: one feature alone predicts it almost perfectly out of fold, it is a
    linear function of the target or of log(target), or it is named like the target.

    The single-feature model is a histogram: the feature cut into quantile bins (or its levels), each bin
    predicting the other folds' mean target (regression, scored by R²) or class shares (scored by AUC). It is
    what a shallow tree on one feature can learn, at the cost of a few passes over the data.
    """
    if target not in table.columns:
        return []
    labelled = np.flatnonzero(table[target].notna().to_numpy())
    picked, sampled = _sample_positions(len(labelled), size=sample_rows, seed=seed)
    positions = labelled[picked]
    if len(positions) < 2 * LEAKAGE_FOLDS:
        return []
    y, log_y = _target_values(table[target].iloc[positions], problem=problem)
    if y is None:
        return []
    folds = np.random.default_rng(seed).permutation(len(positions)) % LEAKAGE_FOLDS
    target_words = name_tokens(target)
    findings = []
    for column_name in table.columns:
        name = str(column_name)
        if name == target or types[name].kind == "empty":
            continue
        x, codes = _feature_values(table[column_name], numbers.get(name), levels=levels.get(name),
                                   positions=positions)
        evidence = _leak_evidence(x, codes, y, log_y, folds=folds, problem=problem)
        score = max(evidence.values(), default=0.0)
        derived = max(evidence.get("|r| with target", 0.0), evidence.get("|r| with log(target)", 0.0))
        strong = score > spec.leakage_score or derived >= max(0.99, spec.leakage_score)
        named = _named_like(name_tokens(name), target_words)
        if not strong and not named:
            continue
        reasons = [f"{what.replace('target', target)} {value:.3f}" for what, value in evidence.items() if value > 0.5]
        measured = f" ({', '.join(reasons)})" if reasons else ""
        if name in drop_columns:
            severity, ending = "info", "; it is in data.drop_columns, so no model sees it"
        elif strong:
            severity, ending = "error", ("; it is probably computed from the target or known only after it: "
                                         "drop it (data.drop_columns) unless it is known when predicting")
        elif score >= 0.3:
            severity, ending = "error", ("; a column named after the target is usually derived from it: drop it "
                                         "(data.drop_columns) unless it is known when predicting")
        else:
            severity, ending = "warn", "; it is only weakly related to the target, but check how it is computed"
        what = "predicts the target almost perfectly on its own" if strong else f"is named like the target {target}"
        findings.append(Finding(severity, "target leakage", [name], len(positions),
                                f"{name} {what}{measured}{sampled}{ending}"))
    return findings


def _target_values(values: pd.Series, *, problem: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The target as floats (regression) or class codes, and log(target) when every value is positive."""
    if problem == "regression":
        y = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(y).any() or np.std(y) == 0:
            return None, None
        return y, (np.log(y) if (y > 0).all() else None)
    codes, classes = pd.factorize(values, sort=True)
    if len(classes) < 2:
        return None, None
    return codes.astype("int64"), None


def _feature_values(column: pd.Series, numbers: pd.Series | None, *, levels: Levels | None,
                    positions: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """A feature at `positions`: as floats when it is ordered (numbers, 0/1, dates), and as bin or level codes."""
    if numbers is not None:
        x = numbers.to_numpy(dtype="float64")[positions]
    elif levels is not None:
        codes = levels.codes[positions]
        return None, np.where(codes < 0, len(levels.values), codes)  # missing is a level of its own
    elif pd.api.types.is_datetime64_any_dtype(column):
        stamps = column.iloc[positions]
        stamps = stamps.dt.tz_localize(None) if isinstance(stamps.dtype, pd.DatetimeTZDtype) else stamps
        x = stamps.astype("int64").where(stamps.notna()).to_numpy(dtype="float64", na_value=np.nan)
    else:
        x = column.to_numpy(dtype="float64", na_value=np.nan)[positions]
    return x, _bins(x)


def _leak_evidence(x: np.ndarray | None, codes: np.ndarray, y: np.ndarray, log_y: np.ndarray | None, *,
                   folds: np.ndarray, problem: str) -> dict[str, float]:
    """How well one feature alone gives the target away; the costly rank statistics only for suspects."""
    evidence = {}
    if problem == "regression":
        evidence["out-of-fold R²"] = _binned_r2(codes, y, folds)
        if x is not None:
            present = ~np.isnan(x)
            if present.sum() >= LEAKAGE_MIN_VALUES and np.std(x[present]) > 0:
                evidence["|r| with target"] = abs(_pearson(x[present], y[present]))
                if log_y is not None:
                    evidence["|r| with log(target)"] = abs(_pearson(x[present], log_y[present]))
                if max(evidence.values()) > 0.5:
                    evidence["rank correlation"] = abs(_pearson(_ranks(x[present]), _ranks(y[present])))
    else:
        evidence["out-of-fold AUC"] = _binned_auc(codes, y, folds)
        if x is not None and y.max() == 1 and evidence["out-of-fold AUC"] > 0.75:
            present = ~np.isnan(x)
            if present.sum() >= LEAKAGE_MIN_VALUES:
                auc = _auc(y[present] == 1, x[present])
                evidence["AUC of the raw values"] = max(auc, 1 - auc)
    return {what: (0.0 if np.isnan(value) else float(value)) for what, value in evidence.items()}


def _bins(x: np.ndarray) -> np.ndarray:
    """Codes of quantile bins (about 20 rows each, at most 256 bins); missing values get a bin of their own."""
    missing = np.isnan(x)
    present = x[~missing]
    if present.size == 0:
        return np.zeros(len(x), dtype="int64")
    bins = int(np.clip(len(x) // 20, 10, 256))
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    codes = np.searchsorted(edges, x, side="right")
    return np.where(missing, len(edges) + 1, codes).astype("int64")


def _binned_r2(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Out-of-fold R² of predicting each bin's mean target from the other folds (two bincounts in all)."""
    size, cell = int(codes.max()) + 1, codes * LEAKAGE_FOLDS + folds
    sums = np.bincount(cell, weights=y, minlength=size * LEAKAGE_FOLDS).reshape(size, LEAKAGE_FOLDS)
    counts = np.bincount(cell, minlength=size * LEAKAGE_FOLDS).reshape(size, LEAKAGE_FOLDS)
    other_sums = sums.sum(axis=1, keepdims=True) - sums
    other_counts = counts.sum(axis=1, keepdims=True) - counts
    fold_sums = np.bincount(folds, weights=y, minlength=LEAKAGE_FOLDS)
    fallback = (y.sum() - fold_sums) / (len(y) - np.bincount(folds, minlength=LEAKAGE_FOLDS))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(other_counts > 0, other_sums / np.maximum(other_counts, 1), fallback)
    prediction = means[codes, folds]
    return 1 - float(np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2))


def _binned_auc(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Out-of-fold AUC of each bin's class shares in the other folds (one-vs-rest, macro, for several classes)."""
    classes, size = int(y.max()) + 1, int(codes.max()) + 1
    cell = (codes * LEAKAGE_FOLDS + folds) * classes + y
    counts = np.bincount(cell, minlength=size * LEAKAGE_FOLDS * classes).reshape(size, LEAKAGE_FOLDS, classes)
    other = counts.sum(axis=1, keepdims=True) - counts
    by_fold = np.bincount(folds * classes + y, minlength=LEAKAGE_FOLDS * classes).reshape(LEAKAGE_FOLDS, classes)
    prior = (by_fold.sum(axis=0) - by_fold) / np.maximum((by_fold.sum() - by_fold.sum(axis=1)), 1)[:, None]
    totals = other.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, other / np.maximum(totals, 1), prior[None, :, :])
    predicted = shares[codes, folds]
    if classes == 2:
        return _auc(y == 1, predicted[:, 1])
    return float(np.mean([_auc(y == k, predicted[:, k]) for k in range(classes)]))  # one-vs-rest, macro


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic: the chance that a positive row scores above a negative one."""
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if not n_positive or not n_negative:
        return 0.5
    ranks = _ranks(score)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def _ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank().to_numpy()


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / scale) if scale > 0 else 0.0


def _named_like(words: list[str], target_words: list[str]) -> bool:
    """'Sale_Price_log', 'SalePrice2' and 'target_copy' are named like the target Sale_Price; a target named with
    fewer than 3 letters ('y') is too short to tell."""
    if words[:1] == ["target"] and all(word.isdigit() or word in DERIVED_WORDS for word in words[1:]):
        return True
    size = len(target_words)
    if len("".join(target_words)) < 3:
        return False
    return any(words[i:i + size] == target_words for i in range(len(words) - size + 1))


def class_imbalance(table: pd.DataFrame, *, target: str, problem: str, spec: Quality, mask: Mask) -> list[Finding]:
    """A rare class: accuracy hides it, and a model may never predict it."""
    if problem == "regression" or target not in table.columns:
        return []
    counts = table[target].value_counts()
    if len(counts) < 2:
        return []
    rarest, count = counts.index[-1], int(counts.iloc[-1])
    share = count / counts.sum()
    if share >= spec.imbalance_warn:
        return []
    return [Finding("warn", "class imbalance", [target], count,
                    f"the rarest class of {target}, {_quoted(mask, target, rarest)}, is {share:.1%} of rows "
                    f"({count:,} of {counts.sum():,}); judge the model by roc_auc, f1 or recall, not accuracy",
                    _masked(mask, target, rarest))]


def too_few_rows(table: pd.DataFrame, *, target: str, problem: str, cv_folds: int, mask: Mask) -> list[Finding]:
    """Cross-validation needs about 20 rows per fold, and every class in every fold."""
    if target not in table.columns:
        return []
    labelled = table[target].dropna()
    findings = []
    needed = ROWS_PER_FOLD * cv_folds
    if len(labelled) < needed:
        findings.append(Finding(
            "error", "too few rows", [target], len(labelled),
            f"{_plural(len(labelled), 'row')} with a {target} give {len(labelled) // cv_folds:,} rows per fold of "
            f"{cv_folds}-fold cross-validation; scores need about {needed:,} rows (or set training.cv lower)"))
    if problem != "regression":
        counts = labelled.value_counts()
        small = counts[counts < cv_folds]
        if not small.empty:
            shown = ", ".join(f"{_quoted(mask, target, value)} ({count:,})"
                              for value, count in small.iloc[:SHOWN].items())
            findings.append(Finding(
                "error", "too few rows", [target], int(small.sum()),
                f"{_plural(len(small), 'class')} of {target} {'has' if len(small) == 1 else 'have'} fewer rows than "
                f"the {cv_folds} cross-validation "
                f"folds: {shown}; merge rare classes or collect more rows", _masked(mask, target, small.index[0])))
    return findings


def unknown_columns(table: pd.DataFrame, *, overrides: Mapping[str, str],
                    rules: Mapping[str, ColumnRule]) -> list[Finding]:
    """data.types and data.quality.rules naming a column the data does not have: a setting that would do nothing."""
    names = [str(name) for name in table.columns]
    findings = []
    for setting, wanted in (("data.types", overrides), ("data.quality.rules", rules)):
        for name in wanted:
            if name in names:
                continue
            guess = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            findings.append(Finding("error", "unknown column", [name], 0,
                                    f"{setting} names '{name}', which is not a column of the data{hint}"))
    return findings

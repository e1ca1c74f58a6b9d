"""Checks of the values in number and date columns: ranges the user set in data.quality.rules, values a
column's name rules out (a negative area, an age over 120), and outliers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

import numpy as np
import pandas as pd

from cairn.config.schema import ColumnRule, Quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.wording import masked, plural, quoted, row_numbers
from cairn.stages.data.types import BLOCK_BYTES, ColumnType, Mask, name_tokens, parse_text_dates, parse_text_numbers

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
                        f"{name} has {plural(count, 'value')} outside data.quality.rules ({bounds}): "
                        f"{int(low.sum()):,} below, {int(high.sum()):,} above, such as {quoted(mask, name, worst)}",
                        masked(mask, name, worst)))
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
                    f"{name} has {plural(count, 'value')} after today ({limit}), which data.quality.rules forbids "
                    f"(not_future), such as {quoted(mask, name, shown)}", masked(mask, name, shown))]


def implausible_values(numbers: pd.DataFrame, *, today: date, skip: Collection[str], mask: Mask) -> list[Finding]:
    """Values the column's name rules out: a negative area, price, count or age; a year after next year; an age
    over 120. Columns with an explicit rule in data.quality.rules are left to it."""
    findings = []
    for name in numbers.columns:
        if name in skip:
            continue
        words = set(name_tokens(name))
        if not words & (NON_NEGATIVE_WORDS.keys() | YEAR_WORDS | {"age"}):
            continue  # nothing in the name rules a value out (most columns of a wide table)
        values = numbers[name]
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
                    f"{name} has {plural(int(negative.sum()), 'negative value')}, such as "
                    f"{quoted(mask, name, worst)}; {kind} cannot be negative ({row_numbers(negative)})",
                    masked(mask, name, worst)))
        if words & YEAR_WORDS and 1000 <= present.median() <= 2200:
            late = (values > today.year + 1).to_numpy()
            if late.any():
                worst = present.max()
                findings.append(Finding(
                    "warn", "implausible values", [name], int(late.sum()),
                    f"{name} has {plural(int(late.sum()), 'year')} after {today.year + 1}, such as "
                    f"{quoted(mask, name, worst)} ({row_numbers(late)})", masked(mask, name, worst)))
        if "age" in words and not words & AGE_UNITS:
            old = (values > 120).to_numpy()
            if old.any():
                worst = present.max()
                findings.append(Finding(
                    "warn", "implausible values", [name], int(old.sum()),
                    f"{name} has {plural(int(old.sum()), 'age')} over 120, such as {quoted(mask, name, worst)} "
                    f"({row_numbers(old)})", masked(mask, name, worst)))
    return findings


def outliers(numbers: pd.DataFrame, *, spec: Quality, mask: Mask) -> list[Finding]:
    """Far values per number column, by IQR fences and by robust z-score (median/MAD): context, not faults.

    Complete columns are measured together (one quantile and one median over the block, the same arithmetic as
    column by column): on a wide table, thousands of small numpy calls were the cost."""
    complete = numbers.columns[numbers.notna().all().to_numpy()] if len(numbers) >= OUTLIER_MIN_VALUES else []
    width = max(1, BLOCK_BYTES // max(len(numbers) * 8, 1))  # a block's temporaries stay bounded on a million rows
    measured = [stats for start in range(0, len(complete), width)
                for stats in _outlier_stats(numbers[complete[start:start + width]].to_numpy(dtype="float64"),
                                            spec=spec)] if len(complete) else None
    position = {name: index for index, name in enumerate(complete)}
    findings = []
    for name in numbers.columns:
        if name in position:
            stats = measured[position[name]] if measured is not None else None
            values = numbers[name].to_numpy(dtype="float64")
        else:
            column = numbers[name].to_numpy(dtype="float64")
            values = column[~np.isnan(column)]
            if len(values) < OUTLIER_MIN_VALUES:
                continue
            stats = _outlier_stats(values[:, None], spec=spec)[0]
        if stats is None or not stats[0]:
            continue
        count, median, flagged, parts = stats
        far = values[flagged]
        worst = far[np.argmax(np.abs(far - median))]
        findings.append(Finding("info", "outliers", [name], count,
                                f"{name} has {plural(count, 'outlier')} ({', '.join(parts)}); the farthest is "
                                f"{quoted(mask, name, worst)}", masked(mask, name, worst)))
    return findings


OUTLIER_MIN_VALUES = 20
"""Fewer present values than this have no outliers worth naming."""


def _outlier_stats(values: np.ndarray, *, spec: Quality) -> list[tuple[int, float, np.ndarray, list[str]] | None]:
    """Per column of `values` (rows x columns, no NaN): the outliers' count, the median, which rows, and the
    words of each rule that applied; None where nothing is far."""
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75], axis=0)
    iqr, mad = q3 - q1, np.median(np.abs(values - median), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_iqr = ((values < q1 - spec.outlier_iqr * iqr) | (values > q3 + spec.outlier_iqr * iqr)) & (iqr > 0)
        by_z = (0.6745 * np.abs(values - median) / mad > spec.outlier_z) & (mad > 0)
    flagged = by_iqr | by_z
    counts = flagged.sum(axis=0)
    stats: list[tuple[int, float, np.ndarray, list[str]] | None] = []
    for index in range(values.shape[1]):
        if not counts[index]:
            stats.append(None)
            continue
        parts = []
        if iqr[index] > 0:
            parts.append(f"{int(by_iqr[:, index].sum()):,} beyond {spec.outlier_iqr:g} IQR of the quartiles")
        if mad[index] > 0:
            parts.append(f"{int(by_z[:, index].sum()):,} with robust z-score above {spec.outlier_z:g}")
        stats.append((int(counts[index]), float(median[index]), flagged[:, index], parts))
    return stats

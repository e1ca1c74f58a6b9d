"""Checks of one column at a time: missing values, columns that carry little, what the inferred types mean,
numbers mixed with words, text meaning 'missing', one value spelled several ways; and settings that name a
column the data does not have.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cairn.config.schema import ColumnRule, Quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.tables import Levels, is_marker, number_tallies, spelling_key
from cairn.stages.data.quality.wording import SHOWN, masked, plural, quoted, verb
from cairn.stages.data.types import ColumnType, Mask, parse_text_dates, parse_text_number

# --- missing values ------------------------------------------------------------------------------------------------


def missing_values(table: pd.DataFrame, *, target: str, spec: Quality) -> list[Finding]:
    """Per column: a share above `missing_warn` (by default `thresholds.MOSTLY_MISSING_SHARE`) is a warning; any
    missing value is worth knowing."""
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


# --- columns that carry little -------------------------------------------------------------------------------------


def constant_columns(table: pd.DataFrame, *, levels: Mapping[str, Levels], spec: Quality,
                     mask: Mask) -> list[Finding]:
    """Empty, single-valued and almost single-valued columns (one value in `near_constant` of the rows, by default
    `thresholds.ALMOST_CONSTANT_SHARE`, as exploration judges it): they carry no or almost no information."""
    findings = []
    rows = len(table)
    plain = _plainly_varied(table, levels=levels, near_constant=spec.near_constant)
    for name in table.columns:
        label = str(name)
        if name in plain:
            continue
        counts = levels[label].value_counts() if label in levels else table[name].value_counts(sort=True)
        present = int(counts.sum())
        if not present:
            findings.append(Finding("warn", "empty column", [label], rows, f"{label} has no values at all"))
            continue
        top, top_count = counts.index[0], int(counts.iloc[0])
        if len(counts) == 1:
            otherwise = f" (missing in the other {rows - present:,} rows)" if present < rows else ""
            findings.append(Finding("warn", "constant column", [label], present,
                                    f"{label} takes a single value, {quoted(mask, label, top)}{otherwise}; "
                                    "it carries no information", masked(mask, label, top)))
        elif top_count / rows >= spec.near_constant:
            findings.append(Finding("warn", "almost constant", [label], top_count,
                                    f"{label} is {quoted(mask, label, top)} in {top_count / rows:.1%} of rows; "
                                    f"the other {rows - top_count:,} rows are too few to learn from",
                                    masked(mask, label, top)))
    return findings


def _plainly_varied(table: pd.DataFrame, *, levels: Mapping[str, Levels], near_constant: float) -> set[object]:
    """Columns that are neither empty nor (almost) constant, told from counts already made: one sort of all the
    number columns (`number_tallies`), the text levels' counts. On a wide table, a value_counts per column was most
    of this check."""
    rows = len(table)
    if not rows:
        return set()
    tallies = number_tallies(table)
    varied = (tallies.distinct > 1) & (tallies.top / rows < near_constant)
    plain = {name for name in varied.index[varied.to_numpy()] if str(name) not in levels}
    counted = {str(name): name for name in table.columns}
    plain.update(counted[label] for label, level in levels.items()
                 if label in counted and len(level.counts) > 1 and level.counts.max() / rows < near_constant)
    return plain


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
        counts = counts[~is_marker(counts.index)]
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
                f"{name} is mostly {column_type.kind}s but {plural(unread, 'value')} {verb(unread, 'is', 'are')} "
                f"not, such as {quoted(mask, name, odd)}; {verb(unread, 'it becomes', 'they become')} missing",
                mask(name, odd)))
        elif column_type.kind == "category" and read and read / total >= 0.01 and unread / total >= 0.01:
            number, word = values[readable].iloc[0], values[~readable].iloc[0]
            findings.append(Finding(
                "warn", "mixed types", [name], read,
                f"{name} mixes numbers ({read / total:.0%}, such as {quoted(mask, name, number)}) and words "
                f"({unread / total:.0%}, such as {quoted(mask, name, word)})", mask(name, number)))
    return findings


# --- spellings -----------------------------------------------------------------------------------------------------


def missing_markers(levels: Mapping[str, Levels], *, mask: Mask) -> list[Finding]:
    """Text that means 'missing' ('N/A', 'NA', '', 'null'): read as a level of its own unless cleaned."""
    findings = []
    for name, level in levels.items():
        counts = level.value_counts()
        markers = counts[is_marker(counts.index)]
        if markers.empty:
            continue
        named = ", ".join(f"{quoted(mask, name, value)} ({count:,})" for value, count in markers.iloc[:SHOWN].items())
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
        counts = counts[~is_marker(counts.index)]
        if counts.empty:
            continue
        groups: dict[str, list[tuple[str, int]]] = {}
        for key, (value, count) in zip(spelling_key(counts.index), counts.items(), strict=True):
            groups.setdefault(key, []).append((str(value), int(count)))  # most common spelling first
        variants = sorted((group for group in groups.values() if len(group) > 1),
                          key=lambda group: -sum(count for _, count in group))
        if variants:
            shown = "; ".join(", ".join(f"{quoted(mask, name, value)} ({count:,})" for value, count in group)
                              for group in variants[:SHOWN])
            more = f"; and {len(variants) - SHOWN} more" if len(variants) > SHOWN else ""
            off = sum(count for group in variants for _, count in group[1:])
            findings.append(Finding(
                "warn", "inconsistent spellings", [name], off,
                f"{name} writes {plural(len(variants), 'value')} in several ways: {shown}{more}; "
                f"{plural(off, 'row')} {verb(off, 'differs', 'differ')} from the usual spelling "
                "(preprocessing.normalize_categories unifies them)",
                mask(name, variants[0][1][0])))
        padded = [(value, count) for group in groups.values() if len(group) == 1 for value, count in group
                  if value != value.strip()]
        if padded:
            count = sum(count for _, count in padded)
            shown = ", ".join(f"{quoted(mask, name, value)} ({count:,})" for value, count in padded[:SHOWN])
            findings.append(Finding("info", "stray whitespace", [name], count,
                                    f"{name} has values with surrounding spaces: {shown}", mask(name, padded[0][0])))
    return findings


# --- settings ------------------------------------------------------------------------------------------------------


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

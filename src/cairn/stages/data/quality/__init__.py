"""Data-quality checks: one function per check, each returning the findings it makes.

Every check is a plain function of the table (and what was inferred about it); `profile_table` in `profile.py`
runs them all. Severity says what to do: `error` stops the run under the default `data.quality.fail_on`, `warn`
deserves a look, `info` is context. Any data value a finding shows (in `example` or `detail`) has gone through
`mask`, so the privacy module can hide personal data before it reaches a report, a log or the store.

The costly checks (near duplicates, leakage) look at a seeded sample of at most `SAMPLE_ROWS` rows and say so.
The thresholds come from the `data.quality` settings; the defaults of those that exploration also judges by (a
rare class, an almost constant or mostly missing column) equal `cairn.thresholds`, so both stages agree.

The checks live in submodules by what they look at: `columns` (one column at a time), `rows` (whole rows),
`values` (ranges, plausibility, outliers), `leakage` and `target`; `tables` reads the table once for all of them
and `wording` phrases what they found. This module re-exports the checks and the table readers, so
`quality.<check>` keeps working.
"""

from __future__ import annotations

from cairn.stages.data.quality.columns import (
    constant_columns,
    inconsistent_spellings,
    missing_markers,
    missing_values,
    mixed_types,
    type_findings,
    unknown_columns,
)
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.leakage import target_leakage
from cairn.stages.data.quality.rows import duplicate_rows, mostly_empty_rows, near_duplicates
from cairn.stages.data.quality.tables import numeric_columns, text_levels
from cairn.stages.data.quality.target import class_imbalance, missing_target, too_few_rows
from cairn.stages.data.quality.values import implausible_values, outliers, rule_violations

__all__ = [
    "Finding", "class_imbalance", "constant_columns", "duplicate_rows", "implausible_values", "inconsistent_spellings",
    "missing_markers", "missing_target", "missing_values", "mixed_types", "mostly_empty_rows", "near_duplicates",
    "numeric_columns", "outliers", "rule_violations", "target_leakage", "text_levels", "too_few_rows",
    "type_findings", "unknown_columns",
]

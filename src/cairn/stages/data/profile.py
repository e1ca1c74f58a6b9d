"""The data-quality profile of what was read: the type of every column and what the quality checks found.

`profile_table` infers the types (`types.py`), runs every check of the `quality` package and returns a
`DataProfile`; the runner stops the run when a finding's severity is in `data.quality.fail_on`
(`DataProfile.blocking`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from cairn.config.schema import Quality
from cairn.stages.data import quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.types import default_mask, infer_types

__all__ = ["DataProfile", "Finding", "profile_table"]


SEVERITY_ORDER = {"error": 0, "warn": 1, "info": 2}
NOTED = 8
"""At most this many errors and warnings are spelled out in the progress notes; the report lists them all."""


@dataclass(frozen=True)
class DataProfile:
    rows: int
    columns: int
    fingerprint: str
    source: str
    column_types: dict[str, str]  # name -> number | category | date | boolean | id | text | empty
    findings: list[Finding] = field(default_factory=list)  # errors first, then warnings, then notes

    def notes(self) -> list[str]:
        kinds = Counter(self.column_types.values())
        severities = Counter(finding.severity for finding in self.findings)
        notes = [f"read {self.rows:,} rows x {self.columns} columns from {self.source}",
                 f"fingerprint {self.fingerprint[:12]}",
                 "types: " + ", ".join(f"{count} {kind}" for kind, count in kinds.most_common()),
                 f"quality: {_count(severities['error'], 'error')}, {_count(severities['warn'], 'warning')}, "
                 f"{_count(severities['info'], 'note')}"]
        serious = [finding for finding in self.findings if finding.severity != "info"]
        notes += [f"{finding.severity}: {finding.detail}" for finding in serious[:NOTED]]
        if len(serious) > NOTED:
            rest = Counter(finding.severity for finding in serious[NOTED:])
            more = [f"{count} more {word}{'' if count == 1 else 's'}"
                    for count, word in ((rest["error"], "error"), (rest["warn"], "warning")) if count]
            notes.append(f"... and {' and '.join(more)} (see the report)")
        return notes

    def blocking(self, fail_on: list[str]) -> list[Finding]:
        """The findings that stop the run: those whose severity data.quality.fail_on lists."""
        return [finding for finding in self.findings if finding.severity in fail_on]


def _count(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def profile_table(table: pd.DataFrame, *, target: str, problem: str, source: str, fingerprint: str,
                  spec: Quality, types: dict[str, str], cv_folds: int,
                  mask: Callable[[str, object], str] = default_mask,
                  drop_columns: Collection[str] = (), seed: int = 0, rare_classes: str = "drop") -> DataProfile:
    """Types and quality findings of the table as read, before any cleaning.

    `types` are the data.types overrides; `drop_columns` (data.drop_columns) turns a leakage error on a column
    that no model sees into a note; `seed` draws the samples of the costly checks on more than 100,000 rows;
    `rare_classes` (training.rare_classes) says whether a class too rare to cross-validate stops the run.
    """
    column_types = infer_types(table, overrides=types, mask=mask)
    numbers = quality.numeric_columns(table, types=column_types)
    levels = quality.text_levels(table)
    today = date.today()
    findings = [
        *quality.unknown_columns(table, overrides=types, rules=spec.rules),
        *quality.too_few_rows(table, target=target, problem=problem, cv_folds=cv_folds, mask=mask,
                             rare_classes=rare_classes),
        *quality.target_leakage(table, levels=levels, target=target, problem=problem, types=column_types,
                                numbers=numbers, spec=spec, drop_columns=drop_columns, seed=seed),
        *quality.missing_target(table, target=target),
        *quality.class_imbalance(table, target=target, problem=problem, spec=spec, mask=mask),
        *quality.rule_violations(table, types=column_types, numbers=numbers, rules=spec.rules, today=today,
                                 mask=mask),
        *quality.duplicate_rows(table, levels=levels, target=target),
        *quality.near_duplicates(table, levels=levels, seed=seed),
        *quality.mostly_empty_rows(table, spec=spec),
        *quality.missing_values(table, target=target, spec=spec),
        *quality.constant_columns(table, levels=levels, spec=spec, mask=mask),
        *quality.type_findings(table, types=column_types, target=target),
        *quality.mixed_types(levels, types=column_types, mask=mask),
        *quality.missing_markers(levels, mask=mask),
        *quality.inconsistent_spellings(levels, types=column_types, mask=mask),
        *quality.implausible_values(numbers, today=today, skip=spec.rules.keys(), mask=mask),
        *quality.outliers(numbers, spec=spec, mask=mask),
    ]
    findings.sort(key=lambda finding: SEVERITY_ORDER.get(finding.severity, len(SEVERITY_ORDER)))
    return DataProfile(rows=len(table), columns=len(table.columns), fingerprint=fingerprint, source=source,
                       column_types={name: column_type.kind for name, column_type in column_types.items()},
                       findings=findings)

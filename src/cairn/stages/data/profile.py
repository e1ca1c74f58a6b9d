"""The data-quality summary of what was read: column types and findings with severity."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cairn.stages.data.sources import SourceRead


@dataclass(frozen=True)
class Finding:
    """One data-quality observation, with how serious it is and where."""

    severity: str  # info | warn | error
    check: str
    columns: list[str]
    count: int
    detail: str


@dataclass(frozen=True)
class DataProfile:
    rows: int
    columns: int
    fingerprint: str
    source: str
    column_types: dict[str, str]  # name -> number | category | boolean | empty
    findings: list[Finding] = field(default_factory=list)

    def notes(self) -> list[str]:
        notes = [f"read {self.rows:,} rows x {self.columns} columns from {self.source}",
                 f"fingerprint {self.fingerprint[:12]}"]
        return notes + [f"{f.severity}: {f.detail}" for f in self.findings if f.severity != "info"]


def column_kind(column: pd.Series) -> str:
    if column.isna().all():
        return "empty"
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    return "category"


def profile_table(read: SourceRead, *, target: str) -> DataProfile:
    """A quality summary: missing values, duplicates, constant columns, types."""
    table = read.table
    rows = len(table)
    findings: list[Finding] = []
    missing = table.isna().mean()
    for name, share in missing[missing > 0].sort_values(ascending=False).items():
        severity = "warn" if share > 0.5 else "info"
        findings.append(Finding(severity, "missing values", [str(name)], int(table[name].isna().sum()),
                                f"{name} is missing in {share:.0%} of rows"))
    duplicates = int(table.duplicated().sum())
    if duplicates:
        findings.append(Finding("warn", "duplicate rows", [], duplicates, f"{duplicates:,} rows are exact duplicates"))
    features = table.drop(columns=[target])
    conflicts = int(features.duplicated(keep=False).sum() - table.duplicated(keep=False).sum())
    if conflicts > 0:
        findings.append(Finding("warn", "conflicting duplicates", [], conflicts,
                                f"{conflicts:,} rows share all features with another row but not its target"))
    for name in table.columns:
        distinct = table[name].nunique(dropna=True)
        if distinct <= 1:
            findings.append(Finding("warn", "constant column", [str(name)], rows,
                                    f"{name} has a single value; it carries no information"))
        elif table[name].dtype.kind in "OU" or pd.api.types.is_string_dtype(table[name]):
            top_share = table[name].value_counts(normalize=True, dropna=False).iloc[0]
            if top_share >= 0.99:
                findings.append(Finding("info", "almost constant", [str(name)], int(top_share * rows),
                                        f"{name} takes one value in {top_share:.1%} of rows"))
    target_missing = int(table[target].isna().sum())
    if target_missing:
        findings.append(Finding("warn", "missing target", [target], target_missing,
                                f"{target_missing:,} rows have no target; they are left out of training"))
    kinds = {str(name): column_kind(table[name]) for name in table.columns}
    return DataProfile(rows=rows, columns=len(table.columns), fingerprint=read.fingerprint, source=read.description,
                       column_types=kinds, findings=findings)

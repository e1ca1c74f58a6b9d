"""Stage 3, preprocessing: the row-level cleaning that happens in training only.

Dropping rows (missing target, exact duplicates) cannot happen to a record at serving time, so it lives here and
is counted. Everything a new record needs (imputation, outlier clipping, encoding) lives in the fitted pipeline
built by the features stage, so `cairn serve` applies exactly the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cairn.config.schema import Preprocessing
from cairn.errors import DataError

MISSING_MARKERS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?")


@dataclass(frozen=True)
class CleaningReport:
    rows_in: int
    rows_out: int
    missing_target_dropped: int
    duplicates_dropped: int
    missing_markers_unified: int

    def notes(self) -> list[str]:
        notes = [f"{self.rows_in:,} rows in, {self.rows_out:,} rows kept for training"]
        if self.missing_target_dropped:
            notes.append(f"dropped {self.missing_target_dropped:,} rows with no target")
        if self.duplicates_dropped:
            notes.append(f"dropped {self.duplicates_dropped:,} exact duplicate rows")
        if self.missing_markers_unified:
            notes.append(f"read {self.missing_markers_unified:,} text markers such as 'N/A' as missing")
        return notes


def unify_missing(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Trim text and read 'N/A', 'null', '' and friends as missing; the pipeline does the same to new records."""
    table = table.copy()
    unified = 0
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.astype("string").str.strip()
        markers = text.isin(MISSING_MARKERS) & column.notna()
        unified += int(markers.sum())
        table[name] = text.where(~markers).astype("object").where(lambda s: s.notna(), None)
    return table, unified


def clean_table(raw: pd.DataFrame, *, target: str, spec: Preprocessing) -> tuple[pd.DataFrame, CleaningReport]:
    table, unified = unify_missing(raw)
    missing_target = table[target].isna()
    share = float(missing_target.mean())
    if spec.missing_target == "fail" and missing_target.any() or share > spec.max_missing_target:
        raise DataError.single(
            f"The target '{target}' is missing in {share:.0%} of rows.", where=f"column {target}",
            expected=f"at most {spec.max_missing_target:.0%} missing (preprocessing.max_missing_target)",
            got=f"{int(missing_target.sum()):,} of {len(table):,} rows",
            fix="fix the source, or raise preprocessing.max_missing_target",
        )
    table = table.loc[~missing_target]
    duplicates = 0
    if spec.duplicates == "drop":
        duplicated = table.duplicated()
        duplicates = int(duplicated.sum())
        table = table.loc[~duplicated]
    table = table.reset_index(drop=True)
    report = CleaningReport(rows_in=len(raw), rows_out=len(table), missing_target_dropped=int(missing_target.sum()),
                            duplicates_dropped=duplicates, missing_markers_unified=unified)
    return table, report

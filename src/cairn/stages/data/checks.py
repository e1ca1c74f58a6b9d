"""Checks that stop a run before anything is written, when the data cannot answer the business question."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import pandas as pd

from cairn.errors import DataError, Problem
from cairn.stages.data.profile import DataProfile
from cairn.stages.data.quality.target import class_counts, target_labels
from cairn.stages.data.quality.wording import masked, plural, quoted, verb
from cairn.stages.data.types import Mask, default_mask


def check_target_present(columns: Sequence[Any], target: str) -> None:
    """The target among the data's `columns` (labels as read: a spreadsheet's 2020 is no '2020'), else an error
    with the nearest name: what `cairn run` checks on the data it read and `cairn validate` on the source's head."""
    if target not in list(columns):
        if any(str(column) == target for column in columns):  # the header cell is a number
            raise DataError.single(
                f"The target column '{target}' is not in the data: its header is the number {target}, not text.",
                where="business.target", expected="a column named by text", got=f"the number {target}",
                fix=f"write the header as text in the file (in a spreadsheet, type '{target} with a leading "
                    "apostrophe)")
        guess = difflib.get_close_matches(target, [str(column) for column in columns], n=1, cutoff=0.6)
        raise DataError.single(
            f"The target column '{target}' is not in the data.", where="business.target",
            expected=f"one of the {len(columns)} columns of the data", got=f"'{target}'",
            fix=f"did you mean '{guess[0]}'?" if guess else "set business.target to a column of the data",
        )


def check_fits_problem(table: pd.DataFrame, *, target: str, problem: str, mask: Mask = default_mask,
                       normalize: bool = True) -> None:
    """Stop early, naming the column, when the data cannot answer the business question: no target, a regression
    target that is not numbers or is one value throughout, a classification target with one class, a binary one
    with more than two. Classes are counted as preprocessing will see them (`target_labels`; `normalize` is
    preprocessing.normalize_categories)."""
    check_target_present(list(table.columns), target)
    column = table[target]
    labels = target_labels(column, normalize=normalize) if problem != "regression" else None
    values = (column if labels is None else labels.values).dropna()
    if values.empty:
        raise DataError.single(
            f"The target column '{target}' has no values.", where=f"column {target}",
            expected="a target with values", got="every row missing", fix="check the data source",
        )
    if problem == "regression" and not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            example = mask(target, values[numbers.isna()].iloc[0])
            raise DataError.single(
                f"The target column '{target}' is not numeric, so it cannot be a regression target.",
                where=f"column {target}", expected="numbers",
                got=f"{numbers.isna().sum():,} non-numeric values such as {example}",
                fix="use problem: binary/multiclass or clean the column",
            )
        values = numbers
    if problem == "regression":
        _check_varies(values, target=target, mask=mask)
        return
    counts = values.value_counts()
    assert labels is not None
    read = (" (once labels are trimmed and their spellings unified)" if labels.respelled
            else " (once white space around labels is trimmed)" if labels.trimmed else "")
    if len(counts) < 2:
        value = counts.index[0]
        raise DataError.single(
            f"The target column '{target}' has one class only{read}: every labelled row ({len(values):,}) is "
            f"{quoted(mask, target, value)}, so there is nothing to tell apart.",
            where=f"column {target}", expected="at least two classes",
            got=f"1 class, {class_counts(values, mask, column=target)}",
            fix=f"check that business.target names the outcome to predict and that the source holds rows of every "
                f"outcome, not only {quoted(mask, target, value)} (a filter may have removed the others)",
        )
    if problem == "multiclass" and _a_quantity(column, classes=len(counts)):
        raise DataError.single(
            f"The target column '{target}' holds {len(counts):,} distinct numbers in {len(values):,} rows: a "
            f"quantity, not classes.", where="business.problem",
            expected="multiclass: a few labels, each with many rows", got=f"{len(counts):,} classes",
            fix="use problem: regression, or bin the target into classes in the source",
        )
    if problem == "binary" and len(counts) > 2:
        raise DataError.single(
            f"The target column '{target}' has {len(counts)} classes{read}, not two: "
            f"{class_counts(values, mask, column=target, limit=6)}.", where="business.problem",
            expected="binary: exactly two classes", got=f"{len(counts)} classes",
            fix="use problem: multiclass, or merge or correct the labels in the source",
        )


QUANTITY_CLASSES = 30  # a numeric target with more classes than this, most of them rare, is a quantity


def _a_quantity(column: pd.Series, *, classes: int) -> bool:
    """A numeric target with more than QUANTITY_CLASSES values, and more than a tenth of its rows: 197 house prices
    in 546 rows were trained as classes, 360 rows set aside as rare, and accuracy was 0.03. Class codes and
    ratings (1-5, 0.5 to 5 in halves, 60 occupation codes in 20,000 rows) stay classes."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    return classes > QUANTITY_CLASSES and classes > 0.1 * column.notna().sum()


def _check_varies(values: pd.Series, *, target: str, mask: Mask) -> None:
    """A regression target that is one number in every row has nothing to learn: any model scores perfectly by
    predicting it. One row is left to the too-few-rows check, which says more."""
    if len(values) < 2 or values.nunique() > 1:
        return
    value = masked(mask, target, values.iloc[0])
    raise DataError.single(
        f"The target column '{target}' is {value} in every one of its {len(values):,} rows, so there is nothing to "
        "learn: any model would predict it exactly and look perfect.",
        where=f"column {target}", expected="a target that varies from row to row",
        got=f"the single value {value} in all {len(values):,} rows",
        fix=f"check that business.target names the column to predict and that the source holds its real values "
            f"(an export or join may have filled {target} with one value)",
    )


EXPECTED = {
    "too few rows": "enough rows for cross-validation",
    "target leakage": "no column that gives away the target",
    "out of range": "values that keep data.quality.rules",
    "unknown column": "settings that name columns of the data",
}
"""What a blocking finding expected instead, in words; other checks read "no <check> finding"."""


def stop_on_quality(profile: DataProfile, *, fail_on: list[str]) -> None:
    """Findings of a severity named in data.quality.fail_on stop the run, each listed with its columns."""
    blocking = profile.blocking(fail_on)
    if not blocking:
        return
    problems = [
        Problem(where=", ".join(f.columns) or "rows",
                expected=f"{EXPECTED.get(f.check, f'no {f.check} finding')} ({f.check}, {f.severity})",
                got=f.detail, fix=None)
        for f in blocking
    ]
    raise DataError(
        f"The data has {plural(len(blocking), 'quality finding')} that {verb(len(blocking), 'stops', 'stop')} the run "
        f"(data.quality.fail_on: {', '.join(fail_on)}). Fix the data, drop the columns (data.drop_columns), "
        "or change data.quality.fail_on:",
        problems,
    )

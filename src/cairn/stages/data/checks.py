"""Checks that stop a run before anything is written, when the data cannot answer the business question."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pandas as pd

from cairn.errors import DataError, Problem
from cairn.stages.data.profile import DataProfile


def check_fits_problem(table: pd.DataFrame, *, target: str, problem: str,
                       mask: Callable[[str, object], str] = lambda column, value: repr(value)) -> None:
    """Stop early, naming the column, when the data cannot answer the business question."""
    if target not in table.columns:
        guess = difflib.get_close_matches(target, [str(c) for c in table.columns], n=1, cutoff=0.6)
        raise DataError.single(
            f"The target column '{target}' is not in the data.", where="business.target",
            expected=f"one of the {len(table.columns)} columns of the data", got=f"'{target}'",
            fix=f"did you mean '{guess[0]}'?" if guess else "set business.target to a column of the data",
        )
    values = table[target].dropna()
    if values.empty:
        raise DataError.single(
            f"The target column '{target}' has no values.", where=f"column {target}",
            expected="a target with values", got="every row missing", fix="check the data source",
        )
    if problem == "regression" and not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        example = mask(target, values[numbers.isna()].iloc[0])
        raise DataError.single(
            f"The target column '{target}' is not numeric, so it cannot be a regression target.",
            where=f"column {target}", expected="numbers",
            got=f"{numbers.isna().sum():,} non-numeric values such as {example}",
            fix="use problem: binary/multiclass or clean the column",
        )
    levels = values.nunique()
    if problem in {"binary", "multiclass"} and levels < 2:
        raise DataError.single(
            f"The target column '{target}' has one class only ({mask(target, values.iloc[0])}).",
            where=f"column {target}",
            expected="at least two classes", got="1 class", fix="a classifier needs examples of every outcome",
        )
    if problem == "binary" and levels > 2:
        raise DataError.single(
            f"The target column '{target}' has {levels} classes, not two.", where="business.problem",
            expected="binary: exactly two classes", got=f"{levels} classes", fix="use problem: multiclass",
        )


def stop_on_quality(profile: DataProfile, *, fail_on: list[str]) -> None:
    """Findings of a severity named in data.quality.fail_on stop the run, each listed with its columns."""
    blocking = profile.blocking(fail_on)
    if not blocking:
        return
    problems = [
        Problem(where=", ".join(f.columns) or "rows", expected=f"no {f.check} ({f.severity})",
                got=f.detail, fix=None)
        for f in blocking
    ]
    raise DataError(
        f"The data has {len(blocking)} quality finding{'s' if len(blocking) > 1 else ''} that stop the run "
        f"(data.quality.fail_on: {', '.join(fail_on)}). Fix the data, drop the columns (data.drop_columns), "
        "or change data.quality.fail_on:",
        problems,
    )

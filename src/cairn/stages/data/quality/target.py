"""Checks of the target alone: rows without one, a rare class, too few rows (or too few of a class) for
cross-validation.
"""

from __future__ import annotations

import pandas as pd

from cairn.config.schema import Quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.wording import SHOWN, masked, plural, quoted
from cairn.stages.data.types import Mask

ROWS_PER_FOLD = 20
"""Fewer rows than this in a cross-validation fold make its score noise."""


def missing_target(table: pd.DataFrame, *, target: str) -> list[Finding]:
    if target not in table.columns:
        return []
    count = int(table[target].isna().sum())
    if not count:
        return []
    return [Finding("warn", "missing target", [target], count,
                    f"{plural(count, 'row')} have no {target}; they are left out of training")]


def class_imbalance(table: pd.DataFrame, *, target: str, problem: str, spec: Quality, mask: Mask) -> list[Finding]:
    """A rare class (under `imbalance_warn` of the rows, by default `thresholds.RARE_CLASS_SHARE`, as exploration
    judges it): accuracy hides it, and a model may never predict it."""
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
                    f"the rarest class of {target}, {quoted(mask, target, rarest)}, is {share:.1%} of rows "
                    f"({count:,} of {counts.sum():,}); judge the model by roc_auc, f1 or recall, not accuracy",
                    masked(mask, target, rarest))]


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
            f"{plural(len(labelled), 'row')} with a {target} give {len(labelled) // cv_folds:,} rows per fold of "
            f"{cv_folds}-fold cross-validation; scores need about {needed:,} rows (or set training.cv lower)"))
    if problem != "regression":
        counts = labelled.value_counts()
        small = counts[counts < cv_folds]
        if not small.empty:
            shown = ", ".join(f"{quoted(mask, target, value)} ({count:,})"
                              for value, count in small.iloc[:SHOWN].items())
            findings.append(Finding(
                "error", "too few rows", [target], int(small.sum()),
                f"{plural(len(small), 'class')} of {target} {'has' if len(small) == 1 else 'have'} fewer rows than "
                f"the {cv_folds} cross-validation "
                f"folds: {shown}; merge rare classes or collect more rows", masked(mask, target, small.index[0])))
    return findings

"""Checks of the target alone: rows without one, a rare class, too few rows (or too few of a class) for
cross-validation; and how class labels are read before they are counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from cairn.config.schema import Quality
from cairn.estimators.text_values import MISSING_MARKERS
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.tables import is_text
from cairn.stages.data.quality.wording import SHOWN, masked, plural, quoted, verb
from cairn.stages.data.rare_classes import OTHER
from cairn.stages.data.rare_classes import rare_classes as plan_rare_classes
from cairn.stages.data.types import Mask

ROWS_PER_FOLD = 20
"""Fewer rows than this in a cross-validation fold make its score noise."""
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class TargetLabels:
    """A target column as its classes are counted: text trimmed, missing markers ('N/A', '') missing and, when
    normalised, one label per spelling ('Yes', 'yes ' and 'YES' are the most common of them)."""

    values: pd.Series
    trimmed: int = 0  # rows whose label had white space around it
    respelled: dict[str, str] = field(default_factory=dict)  # another spelling -> the label it is read as
    respelled_rows: int = 0

    def notes(self) -> list[str]:
        notes = []
        if self.trimmed:
            notes.append(f"trimmed white space around {plural(self.trimmed, 'target label')}")
        if self.respelled:
            shown = ", ".join(f"'{old}' as '{new}'" for old, new in list(self.respelled.items())[:SHOWN])
            more = f" and {len(self.respelled) - SHOWN} more" if len(self.respelled) > SHOWN else ""
            notes.append(f"read {plural(self.respelled_rows, 'target label')} written another way as the usual "
                         f"spelling: {shown}{more}")
        return notes


def target_labels(column: pd.Series, *, normalize: bool = True) -> TargetLabels:
    """Text labels as a classifier sees them, the rules of the features' categories (`encoder.clean_text`): white
    space around a label and missing markers never make a class; normalised, neither do case and runs of spaces.
    Labels stored as numbers or booleans are returned as they are."""
    if not is_text(column):
        return TargetLabels(column)
    rows: dict[object, int] = {value: int(count) for value, count in column.value_counts(dropna=True).items()}
    read: dict[object, object] = {}
    trimmed = 0
    for value, count in rows.items():
        if not isinstance(value, str):
            continue
        text = value.strip()
        if text.casefold() in MISSING_MARKERS:
            read[value] = None
            continue
        if text != value:
            trimmed += count
        read[value] = text
    respelled: dict[str, str] = {}
    respelled_rows = 0
    if normalize:
        totals: dict[str, int] = {}
        for value, count in rows.items():
            label = read.get(value)
            if isinstance(label, str):
                totals[label] = totals.get(label, 0) + count
        usual: dict[str, str] = {}
        for label, _ in sorted(totals.items(), key=lambda item: -item[1]):  # stable: ties in order of first count
            usual.setdefault(_SPACES.sub(" ", label).casefold(), label)
        for value in read:
            label = read[value]
            if not isinstance(label, str):
                continue
            spelled = usual[_SPACES.sub(" ", label).casefold()]
            if spelled != label:
                respelled[label] = spelled
                respelled_rows += rows[value]
                read[value] = spelled
    if not read or all(value == label for value, label in read.items()):
        return TargetLabels(column)
    values = column.map(lambda value: read.get(value, value) if isinstance(value, str) else value)
    values = values.astype("object").where(values.notna(), None)
    return TargetLabels(values, trimmed=trimmed, respelled=respelled, respelled_rows=respelled_rows)


def class_counts(labels: pd.Series, mask: Mask, *, column: str, limit: int = SHOWN) -> str:
    """"'no' (40), 'yes' (12) and 1 more": the labels of a target with their rows, most common first."""
    counts = labels.value_counts()
    shown = ", ".join(f"{quoted(mask, column, value)} ({count:,})" for value, count in counts.iloc[:limit].items())
    return shown + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


def missing_target(table: pd.DataFrame, *, target: str) -> list[Finding]:
    if target not in table.columns:
        return []
    count = int(table[target].isna().sum())
    if not count:
        return []
    return [Finding("warn", "missing target", [target], count,
                    f"{plural(count, 'row')} {verb(count, 'has', 'have')} no {target}; "
                    f"{verb(count, 'it is', 'they are')} left out of training")]


def class_imbalance(table: pd.DataFrame, *, target: str, problem: str, spec: Quality, mask: Mask) -> list[Finding]:
    """A rare class (under `imbalance_warn` of the rows, by default `thresholds.RARE_CLASS_SHARE`, as exploration
    judges it): accuracy hides it, and a model may never predict it."""
    if problem == "regression" or target not in table.columns:
        return []
    counts = target_labels(table[target]).values.value_counts()
    if len(counts) < 2:
        return []
    rarest, count = counts.index[-1], int(counts.iloc[-1])
    share = count / counts.sum()
    if share >= spec.imbalance_warn:
        return []
    judge = "roc_auc, f1 or recall" if problem == "binary" else "macro_f1, balanced_accuracy or log_loss"
    return [Finding("warn", "class imbalance", [target], count,
                    f"the rarest class of {target}, {quoted(mask, target, rarest)}, is {_share(count, counts.sum())} "
                    f"of rows ({count:,} of {counts.sum():,}); judge the model by {judge}, not accuracy",
                    masked(mask, target, rarest))]


def _share(count: int, total: int) -> str:
    """A share of rows that never reads as none when some rows are: '0.011%', not '0.0%'."""
    share = count / total
    return f"{share:.1%}" if share >= 0.001 else f"{share:.3%}" if share >= 0.00001 else "under 0.001%"


def too_few_rows(table: pd.DataFrame, *, target: str, problem: str, cv_folds: int, mask: Mask,
                 rare_classes: str = "fail") -> list[Finding]:
    """Cross-validation needs about 20 rows per fold, and every class in every fold and the holdout. A class with
    fewer rows is an error under `training.rare_classes: fail`, and a warning under drop or merge, which carry on
    without it, unless fewer than two classes are left to learn."""
    if target not in table.columns:
        return []
    labelled = (table[target] if problem == "regression" else target_labels(table[target]).values).dropna()
    findings = []
    needed = ROWS_PER_FOLD * cv_folds
    if len(labelled) < needed:
        per_fold = len(labelled) // cv_folds
        findings.append(Finding(
            "error", "too few rows", [target], len(labelled),
            f"{plural(len(labelled), 'row')} with a {target} {verb(len(labelled), 'gives', 'give')} "
            f"{plural(per_fold, 'row')} per fold of {cv_folds}-fold cross-validation; scores need about {needed:,} "
            "rows (or set training.cv lower)"))
    if problem != "regression":
        plan = plan_rare_classes(labelled, cv=cv_folds, policy=rare_classes)
        if plan.rare:
            small = labelled.astype(str).value_counts()
            small = small[small.index.isin(list(plan.rare))]
            shown = ", ".join(f"{quoted(mask, target, value)} ({count:,})"
                              for value, count in small.iloc[:SHOWN].items())
            shown += f" and {len(small) - SHOWN} more" if len(small) > SHOWN else ""
            rare = (f"{plural(len(small), 'class')} of {target} {verb(len(small), 'has', 'have')} fewer rows than "
                    f"{cv_folds}-fold cross-validation and a holdout need ({plan.needed}): {shown}")
            if rare_classes == "fail":
                severity, ending = "error", ("; merge rare classes or collect more rows, or set training.rare_classes "
                                             "to drop or merge")
            elif plan.nothing_to_learn:
                left = ", ".join(f"{quoted(mask, target, value)} ({count:,})" for value, count in plan.left.items())
                severity, ending = "error", (f"; without them no class is left to learn (left: {left or 'none'}): "
                                             "collect more rows of the rare classes or set training.cv lower")
            elif rare_classes == "merge" and not plan.set_aside:
                severity, ending = "warn", f"; they are merged into one '{OTHER}' class (training.rare_classes)"
            elif rare_classes == "merge":
                severity, ending = "warn", (f"; merged into one '{OTHER}' class they are still too few, so they are "
                                            "set aside from training (training.rare_classes)")
            else:
                severity, ending = "warn", ("; they are set aside from training, so the model never predicts them "
                                            "(training.rare_classes: drop; merge pools them into one class)")
            findings.append(Finding(severity, "too few rows", [target], int(small.sum()), rare + ending,
                                    masked(mask, target, small.index[0])))
    return findings

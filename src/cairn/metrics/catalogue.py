"""Every metric cairn knows, one record each: the config, scoring, the report and monitoring all read it here.

Light on purpose (no numpy, no scikit-learn): the project file's schema is built from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REGRESSION = frozenset({"regression"})
CLASSIFICATION = frozenset({"binary", "multiclass"})
BINARY = frozenset({"binary"})


@dataclass(frozen=True)
class Metric:
    """What a metric means to a person: the problems it scores, its direction, its unit and its name."""

    name: str
    label: str  # as a person reads it: "MAPE", "R²"
    problems: frozenset[str]
    lower_is_better: bool
    percent: bool = False  # stored as a fraction, read as a percentage
    needs_proba: bool = False  # scored on class probabilities, not labels
    lowest: float = 0.0  # the values it can take: a threshold outside them is never met, or always
    highest: float = math.inf


CATALOGUE: dict[str, Metric] = {m.name: m for m in (
    Metric("mape", "MAPE", REGRESSION, lower_is_better=True, percent=True),
    Metric("mae", "MAE", REGRESSION, lower_is_better=True),
    Metric("rmse", "RMSE", REGRESSION, lower_is_better=True),
    Metric("rmsle", "RMSLE", REGRESSION, lower_is_better=True),
    Metric("r2", "R²", REGRESSION, lower_is_better=False, lowest=-math.inf, highest=1.0),
    Metric("roc_auc", "ROC AUC", CLASSIFICATION, lower_is_better=False, needs_proba=True, highest=1.0),
    Metric("accuracy", "Accuracy", CLASSIFICATION, lower_is_better=False, highest=1.0),
    # f1 in binary: of the positive class; in multiclass: macro
    Metric("f1", "F1", CLASSIFICATION, lower_is_better=False, highest=1.0),
    Metric("macro_f1", "Macro F1", CLASSIFICATION, lower_is_better=False, highest=1.0),  # the mean of every class's F1
    Metric("precision", "Precision", CLASSIFICATION, lower_is_better=False, highest=1.0),
    Metric("recall", "Recall", CLASSIFICATION, lower_is_better=False, highest=1.0),
    Metric("log_loss", "Log loss", CLASSIFICATION, lower_is_better=True, needs_proba=True),
    Metric("average_precision", "Average precision", BINARY, lower_is_better=False, needs_proba=True,
           highest=1.0),
    Metric("balanced_accuracy", "Balanced accuracy", CLASSIFICATION, lower_is_better=False, highest=1.0),
    Metric("brier", "Brier score", BINARY, lower_is_better=True, needs_proba=True, highest=1.0),
)}
# Binary metrics that read labels, so they move with the decision threshold (cairn.stages.training.threshold).
THRESHOLD_METRICS = frozenset({"accuracy", "f1", "precision", "recall", "balanced_accuracy"})
METRIC_NAMES: tuple[str, ...] = tuple(CATALOGUE)
DEFAULT_METRIC: dict[str, str] = {"regression": "rmse", "binary": "roc_auc", "multiclass": "accuracy"}
REPORTED: dict[str, tuple[str, ...]] = {  # what every run of a problem reports, after the objective's own metrics
    "regression": ("mape", "mae", "rmse", "r2"),
    "binary": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "average_precision",
               "balanced_accuracy", "brier"),
    "multiclass": ("accuracy", "macro_f1", "log_loss", "balanced_accuracy"),
}


def metric(name: str) -> Metric | None:
    """The record of a metric, or None for a figure that is not one (a latency, a row count)."""
    return CATALOGUE.get(name.lower())


def lower_is_better(name: str) -> bool:
    known = metric(name)
    return known is not None and known.lower_is_better


def is_percent(name: str) -> bool:
    known = metric(name)
    return known is not None and known.percent


def needs_proba(name: str) -> bool:
    known = metric(name)
    return known is not None and known.needs_proba


def label(name: str) -> str:
    """'mape' -> 'MAPE', 'r2' -> 'R²'; a name outside the catalogue reads as words ('predict_p99_ms')."""
    known = metric(name)
    if known is not None:
        return known.label
    return name.upper() if len(name) <= 5 and "_" not in name else name.replace("_", " ").capitalize()


def metrics_of(problem: str) -> tuple[str, ...]:
    """The metrics that can score a problem."""
    return tuple(m.name for m in CATALOGUE.values() if problem in m.problems)


def metrics_for(problem: str, named: list[str]) -> list[str]:
    """The metrics a run reports: those the objective names first, then the usual ones for the problem."""
    return list(dict.fromkeys([*named, *REPORTED[problem]]))


def error_of(name: str, value: float) -> float:
    """A score as an error, so gaps compare as ratios: the value itself when lower is better, else 1 - value
    (AUC 0.80 against 0.92 is an error of 0.20 against 0.08)."""
    return value if lower_is_better(name) else 1.0 - value


def criterion_text(name: str, *, below: bool, threshold: float) -> str:
    """A success criterion as the business states it: 'MAPE < 10%'."""
    value = f"{threshold * 100:g}%" if is_percent(name) else f"{threshold:g}"
    return f"{name.upper()} {'<' if below else '>'} {value}"

"""The holdout's diagnostic curves, as plain numbers the report draws: ROC, precision-recall with the decision
threshold marked, calibration and the confusion matrix at the threshold for classifiers (one-vs-rest per class
when multiclass); predicted against actual and residuals for regression.

Computed once in the evaluation stage, so the report can be rebuilt from a stored run without the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

MAX_POINTS = 300  # per curve: enough for the eye, small enough for the stored run
MAX_SCATTER = 2_000  # regression points drawn
MAX_CLASSES = 10  # one-vs-rest ROC curves drawn for a multiclass problem
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Curve:
    name: str  # the class (one-vs-rest) or "holdout"
    x: list[float]
    y: list[float]
    area: float | None = None


@dataclass(frozen=True)
class Diagnostics:
    problem: str
    positive_class: Any = None
    threshold: float | None = None
    roc: list[Curve] = field(default_factory=list)
    precision_recall: Curve | None = None
    at_threshold: tuple[float, float] | None = None  # (recall, precision) of the holdout at the threshold
    calibration: Curve | None = None  # mean predicted probability -> observed share, by quantile bin
    confusion_labels: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows: actual, columns: predicted
    predicted: list[float] = field(default_factory=list)  # regression, a sample of at most MAX_SCATTER rows
    actual: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be drawn, and why


def holdout_diagnostics(y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None, *, problem: str,
                        classes: list[Any] | None, positive: Any = None, threshold: float | None = None,
                        seed: int = 0) -> Diagnostics:
    """`proba`: of the positive class when binary, one column per class (in `classes` order) when multiclass."""
    if problem == "regression":
        rows = np.arange(len(y))
        if len(rows) > MAX_SCATTER:
            rows = np.sort(np.random.default_rng(seed).choice(len(y), MAX_SCATTER, replace=False))
        return Diagnostics(problem, predicted=_plain(np.asarray(predicted, dtype="float64")[rows]),
                           actual=_plain(np.asarray(y, dtype="float64")[rows]))
    labels = list(classes or sorted(set(np.asarray(y).tolist())))
    confusion = skm.confusion_matrix(y, predicted, labels=labels).tolist()
    names = [str(label) for label in labels]
    absent = [str(label) for label in labels if not np.any(y == label)]
    notes = [f"class '{name}' never appears in the holdout: its curves and per-class scores are left out"
             for name in absent]
    if problem == "binary":
        assert proba is not None
        truth = y == positive
        roc, pr, calibration, at = [], None, None, None
        if truth.any() and not truth.all():
            fpr, tpr, _ = skm.roc_curve(truth, proba)
            roc = [Curve(str(positive), _thin(fpr), _thin(tpr), float(skm.roc_auc_score(truth, proba)))]
            precision, recall, _ = skm.precision_recall_curve(truth, proba)
            pr = Curve(str(positive), _thin(recall), _thin(precision), float(skm.average_precision_score(truth, proba)))
            said = predicted == positive
            at = (float((said & truth).sum() / truth.sum()), float((said & truth).sum() / max(said.sum(), 1)))
            calibration = _calibration(truth, proba)
        return Diagnostics(problem, positive, threshold, roc, pr, at, calibration, names, confusion, notes=notes)
    assert proba is not None
    roc = []
    for column, label in enumerate(labels[:MAX_CLASSES]):
        truth = y == label
        if truth.any() and not truth.all():
            fpr, tpr, _ = skm.roc_curve(truth, proba[:, column])
            roc.append(Curve(str(label), _thin(fpr), _thin(tpr), float(skm.roc_auc_score(truth, proba[:, column]))))
    return Diagnostics(problem, roc=roc, confusion_labels=names, confusion=confusion, notes=notes)


def _calibration(truth: np.ndarray, proba: np.ndarray) -> Curve:
    edges = np.unique(np.quantile(proba, np.linspace(0, 1, CALIBRATION_BINS + 1)))
    bins = np.clip(np.searchsorted(edges, proba, side="right") - 1, 0, max(len(edges) - 2, 0))
    predicted, observed = [], []
    for b in np.unique(bins):
        rows = bins == b
        predicted.append(float(proba[rows].mean()))
        observed.append(float(truth[rows].mean()))
    brier = float(np.mean((proba - truth) ** 2))
    return Curve("holdout", predicted, observed, brier)


def _thin(values: np.ndarray) -> list[float]:
    """At most MAX_POINTS points, the ends kept."""
    values = np.asarray(values, dtype="float64")
    if len(values) > MAX_POINTS:
        values = values[np.unique(np.linspace(0, len(values) - 1, MAX_POINTS).round().astype(int))]
    return _plain(values)


def _plain(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]

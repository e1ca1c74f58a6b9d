"""The decision threshold of a binary classifier, tuned on the chosen model's out-of-fold probabilities.

A label is "positive when its probability reaches the threshold". At 0.5 a success criterion on recall or
precision is judged at an arbitrary point of the precision-recall curve; here the threshold is chosen for the
objective: the lowest total cost when `business.cost` is set, else the first success criterion that depends on a
threshold (recall or precision: the threshold that meets it with the best other side; F1, accuracy, balanced
accuracy: their maximum), else 0.5, said so. Out-of-fold probabilities were never fitted on, so the threshold is
chosen on rows the model did not see, like the holdout that then judges it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cairn.config.schema import Cost, SuccessCriterion
from cairn.metrics.catalogue import THRESHOLD_METRICS, label
from cairn.model.calibration import Calibration
from cairn.stages.business import BusinessCase

DEFAULT = 0.5
CANDIDATES = 400  # thresholds tried: quantiles of the out-of-fold probabilities, plus 0.5


@dataclass(frozen=True)
class ThresholdCurve:
    """Out-of-fold precision and recall of the positive class at each threshold tried."""

    thresholds: list[float]
    precision: list[float]
    recall: list[float]
    objective: list[float] = field(default_factory=list)  # what was optimised, when something was


@dataclass(frozen=True)
class DecisionThreshold:
    value: float
    metric: str  # what it was tuned for: a metric name, "cost", or "default" (0.5 kept)
    text: str  # one sentence for the notes, the report and the model card
    positive_class: Any = None
    curve: ThresholdCurve | None = None


def tune_threshold(positive_proba: np.ndarray, is_positive: np.ndarray, *, case: BusinessCase,
                   positive: Any) -> DecisionThreshold:
    """The threshold for `case`'s objective on out-of-fold probabilities of the positive class (NaN rows, those
    the search did not cross-validate, are left out)."""
    known = ~np.isnan(positive_proba)
    proba, truth = positive_proba[known], np.asarray(is_positive, dtype=bool)[known]
    thresholds = _candidates(proba)
    counts = _counts(proba, truth, thresholds)
    precision, recall = _precision(counts), _recall(counts)
    cost, criterion = case.cost, _criterion(case.success)
    if len(proba) == 0 or truth.all() or not truth.any():
        return DecisionThreshold(DEFAULT, "default", f"decision threshold {DEFAULT:g}: the out-of-fold "
                                 "predictions hold one class only, nothing to tune on", positive)
    if cost is not None:
        return _by_cost(thresholds, counts, cost, precision, recall, positive)
    if criterion is None:
        first = case.success[0].metric if case.success else None
        why = (f"the first success metric, {label(first)}, does not depend on a threshold" if first
               else "no success criterion depends on one")
        return DecisionThreshold(DEFAULT, "default", f"decision threshold {DEFAULT:g} ({why}); set business.cost or "
                                 "a recall, precision or F1 criterion to tune it", positive,
                                 ThresholdCurve(_plain(thresholds), _plain(precision), _plain(recall)))
    if criterion.metric in {"recall", "precision"}:
        return _by_target(criterion, thresholds, precision, recall, truth, positive)
    values = _metric(criterion.metric, counts)
    best = int(np.argmax(values))
    curve = ThresholdCurve(_plain(thresholds), _plain(precision), _plain(recall), _plain(values))
    return DecisionThreshold(float(thresholds[best]), criterion.metric,
                             f"decision threshold {thresholds[best]:.3g}: maximises out-of-fold "
                             f"{label(criterion.metric)} ({values[best]:.3f}; at {DEFAULT:g}: "
                             f"{values[_at_default(thresholds)]:.3f})", positive, curve)


def _criterion(success: list[SuccessCriterion]) -> SuccessCriterion | None:
    return next((c for c in success if c.metric in THRESHOLD_METRICS), None)


def _by_cost(thresholds: np.ndarray, counts: np.ndarray, cost: Cost, precision: np.ndarray, recall: np.ndarray,
             positive: Any) -> DecisionThreshold:
    tp, fp, fn, _ = counts
    total = cost.false_positive * fp + cost.false_negative * fn
    best, default = int(np.argmin(total)), _at_default(thresholds)
    rows = counts[:, 0].sum()
    text = (f"decision threshold {thresholds[best]:.3g}: least cost out of fold ({cost.false_positive:g} per false "
            f"positive, {cost.false_negative:g} per false negative: {total[best] / rows:.3g} per row; at "
            f"{DEFAULT:g}: {total[default] / rows:.3g})")
    return DecisionThreshold(float(thresholds[best]), "cost", text, positive,
                             ThresholdCurve(_plain(thresholds), _plain(precision), _plain(recall),
                                            _plain(total / rows)))


def _by_target(criterion: SuccessCriterion, thresholds: np.ndarray, precision: np.ndarray, recall: np.ndarray,
               truth: np.ndarray, positive: Any) -> DecisionThreshold:
    """Meets the target with a margin of one standard error of the out-of-fold estimate (a target met exactly
    out of fold is missed on the holdout half the time), with the best other side; the nearest miss when none
    does."""
    target = criterion.threshold
    own, other = (recall, precision) if criterion.metric == "recall" else (precision, recall)
    positives = max(int(truth.sum()), 1)  # recall's sample size; precision's is of the same order near the target
    margin = math.sqrt(max(target * (1 - target), 0.0) / positives)
    feasible = own > target + margin
    if not feasible.any():
        feasible = own > target
    if feasible.any():
        best = int(np.flatnonzero(feasible)[np.argmax(other[feasible])])
        how = f"meets {criterion.text()} out of fold with a margin of one standard error ({margin:.3f})"
        if not own[best] > target + margin:
            how = f"meets {criterion.text()} out of fold, without the margin of one standard error"
    else:
        best = int(np.argmax(own))
        how = f"comes nearest to {criterion.text()} out of fold (no threshold meets it)"
    name, other_name = label(criterion.metric), "precision" if criterion.metric == "recall" else "recall"
    default = _at_default(thresholds)
    text = (f"decision threshold {thresholds[best]:.3g}: {how}, with the best {other_name} (out of fold "
            f"{name} {own[best]:.3f}, {other_name} {other[best]:.3f}; at {DEFAULT:g}: {own[default]:.3f} and "
            f"{other[default]:.3f})")
    return DecisionThreshold(float(thresholds[best]), criterion.metric, text, positive,
                             ThresholdCurve(_plain(thresholds), _plain(precision), _plain(recall), _plain(own)))


def _candidates(proba: np.ndarray) -> np.ndarray:
    if len(proba) == 0:
        return np.array([DEFAULT])
    quantiles = np.quantile(proba, np.linspace(0, 1, CANDIDATES))
    return np.unique(np.concatenate([quantiles, [DEFAULT]]))


def _counts(proba: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(4, thresholds): true positives, false positives, false negatives, true negatives at each threshold."""
    order = np.sort(proba)
    positives = np.sort(proba[truth])
    said = len(proba) - np.searchsorted(order, thresholds, side="left")  # rows with p >= t
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = said - tp
    fn = len(positives) - tp
    tn = len(proba) - len(positives) - fp
    return np.vstack([tp, fp, fn, tn]).astype("float64")


def _precision(counts: np.ndarray) -> np.ndarray:
    tp, fp, _, _ = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tp + fp > 0, tp / (tp + fp), 1.0)  # nothing called positive: no false alarm


def _recall(counts: np.ndarray) -> np.ndarray:
    tp, _, fn, _ = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tp + fn > 0, tp / (tp + fn), 0.0)


def _metric(name: str, counts: np.ndarray) -> np.ndarray:
    tp, fp, fn, tn = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "f1":
            return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        if name == "accuracy":
            return (tp + tn) / counts.sum(axis=0)
        specificity = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
        return (_recall(counts) + specificity) / 2  # balanced accuracy


def _at_default(thresholds: np.ndarray) -> int:
    return int(np.argmin(np.abs(thresholds - DEFAULT)))


def _plain(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass(frozen=True)
class ClassDecision:
    """How the chosen classifier turns probabilities into answers, and the notes saying how it was chosen: binary,
    the positive class, a calibration and a threshold; multiclass, a temperature."""

    positive_class: Any = None
    calibration: Calibration | None = None
    threshold: DecisionThreshold | None = None
    notes: list[str] = field(default_factory=list)


def class_decision(board: Any, searched: dict[str, Any], data: Any, case: BusinessCase) -> ClassDecision:
    """Read from the chosen model's out-of-fold probabilities (a blend's: its members' weighted as in the blend):
    binary, the positive class, the calibration (when it improves their log loss) and the threshold tuned on the
    calibrated ones; multiclass, the temperature (when it improves their log loss). Regression: nothing."""
    from cairn.metrics.resampled import class_positions
    from cairn.stages.training.calibration import calibrate, calibrate_classes
    from cairn.stages.training.leaderboard import ENSEMBLE
    from cairn.stages.training.positive import positive_class

    if case.problem == "regression" or data.classes is None:
        return ClassDecision()
    positive, note = positive_class(data.y, configured=case.positive_class) if case.problem == "binary" else (None, "")
    weights = board.blend if board.chosen == ENSEMBLE else {board.chosen: 1.0}
    outputs = [searched[name].best.oof for name in weights]
    if any(output is None for output in outputs):
        return ClassDecision(positive, notes=[note] if note else [])
    oof = np.asarray(sum(weight * np.asarray(output, dtype="float64")
                         for weight, output in zip(weights.values(), outputs, strict=True)))
    if case.problem != "binary":
        calibration, calibration_note = calibrate_classes(oof, class_positions(data.classes, data.y), data.split.folds)
        return ClassDecision(None, calibration, None, [calibration_note])
    truth = data.y == positive
    calibration, calibrated, calibration_note = calibrate(oof[:, -1], truth, data.split.folds)
    decision = tune_threshold(calibrated, truth, case=case, positive=positive)
    return ClassDecision(positive, calibration, decision, [note, calibration_note, decision.text])

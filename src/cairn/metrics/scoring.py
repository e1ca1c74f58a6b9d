"""Metric definitions shared by training, evaluation and monitoring, so every stage scores the same way."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from cairn.metrics.catalogue import error_of, is_percent, lower_is_better, metrics_for, needs_proba
from cairn.metrics.resampled import resampled_scores

__all__ = ["draw_scores", "error_of", "lower_is_better", "metrics_for", "needs_proba", "positive_last", "score",
           "shown"]
COUNTED = frozenset({"accuracy", "f1", "macro_f1", "precision", "recall", "roc_auc", "log_loss", "average_precision",
                     "balanced_accuracy", "brier"})  # see `_counted`


def positive_last(classes: np.ndarray, positive: object | None) -> np.ndarray:
    """Binary classes in the order every metric reads them: the positive class last (`business.positive_class`,
    not whichever label sorts last). Multiclass, or no positive class named: as given."""
    classes = np.asarray(classes)
    if positive is None or len(classes) != 2 or positive not in classes.tolist():
        return classes
    return np.array([c for c in classes.tolist() if c != positive] + [positive], dtype=classes.dtype)


def draw_scores(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                classes: np.ndarray | None, draws: np.ndarray, *, deadline: float = math.inf,
                at_least: int = 0) -> np.ndarray:
    """`score` on each draw of row positions, one at a time: the slow path for what `resampled_scores` cannot
    vectorise (multiclass ROC AUC). NaN where a draw leaves the metric undefined (one class drawn), without
    scikit-learn's warning for each; past `deadline` (a `time.perf_counter()` instant), once `at_least` draws are
    scored, it stops: fewer scores than draws, in bounded time."""
    scored: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for rows in draws:
            if len(scored) >= at_least and time.perf_counter() > deadline:
                break
            try:
                scored.append(score(metric, y[rows], predicted[rows], None if proba is None else proba[rows],
                                    classes=classes))
            except ValueError:  # a draw with one class has no AUC
                scored.append(np.nan)
    return np.array(scored, dtype="float64")


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None,
          *, classes: np.ndarray | None = None) -> float:
    """One metric. `proba` holds class probabilities (binary: of the positive class) where a metric needs them."""
    y_true = np.asarray(y_true)
    if metric in COUNTED:
        counted = _counted(metric, y_true, np.asarray(y_pred), proba, classes)
        if counted is not None:
            return counted
    if metric == "mape":
        return float(np.mean(np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), 1e-12)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y_true, y_pred))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    if metric == "rmsle":
        return float(np.sqrt(skm.mean_squared_log_error(y_true, np.maximum(y_pred, 0))))
    if metric == "r2":
        return float(skm.r2_score(y_true, y_pred))
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_true, y_pred))
    if metric == "macro_f1":
        return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    multiclass = classes is not None and len(classes) > 2
    average = "macro" if multiclass else "binary"
    positive = classes[-1] if classes is not None and not multiclass else 1
    if metric in {"f1", "precision", "recall"}:
        function: Callable[..., float] = {"f1": skm.f1_score, "precision": skm.precision_score,
                                          "recall": skm.recall_score}[metric]
        extra = {} if multiclass else {"pos_label": positive}
        return float(function(y_true, y_pred, average=average, zero_division=0, **extra))
    if proba is None:
        raise ValueError(f"metric {metric} needs predicted probabilities")
    if metric == "roc_auc":
        if multiclass:
            return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        return float(skm.roc_auc_score(y_true == positive, proba))
    if metric == "average_precision":
        return float(skm.average_precision_score(y_true == positive, proba))
    if metric == "brier":
        return float(skm.brier_score_loss(y_true == positive, proba))
    if metric == "log_loss":
        if not multiclass:
            proba = np.column_stack([1 - proba, proba])
        return float(skm.log_loss(y_true, proba, labels=classes))
    raise ValueError(f"unknown metric {metric}")


def _counted(metric: str, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None,
             classes: np.ndarray | None) -> float | None:
    """Classification metrics as plain counts (see `cairn.resampled`): scikit-learn 1.9 spends 2-5 ms a call
    validating its inputs, and cross-validation scores every fold on six of them. None: no counted form."""
    if classes is None:
        return None
    value = resampled_scores(metric, y_true, y_pred, proba, classes, np.arange(len(y_true))[None, :])
    if value is None:
        return None
    if np.isnan(value[0]):
        raise ValueError(f"{metric} is undefined here: only one class is present")
    return float(value[0])



def shown(metric: str, value: float) -> str:
    """A metric as a person reads it: MAPE as a percentage, money-like errors with separators."""
    if is_percent(metric):
        return f"{value * 100:.1f}%"
    if metric in {"mae", "rmse"}:
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:.3f}"

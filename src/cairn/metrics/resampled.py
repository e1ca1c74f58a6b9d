"""Metrics over many bootstrap resamples at once, as counts per row rather than copied rows.

A bootstrap interval scores the holdout a thousand times. Through scikit-learn each score re-validates its inputs
(type of target, labels, array checks), which cost 58 s of a one-minute run's evaluation on 800 churn rows. A
resample is only a count per row, so every metric here is a weighted sum over the rows, computed for a whole
block of resamples as one matrix product. Each function returns one value per resample, equal to
scikit-learn's metric on the resampled rows (tested), or None when the metric has no vectorised form here;
`cairn.metrics.score` counts these metrics through the same code.
"""

from __future__ import annotations

import numpy as np

# accuracy and log loss are means over rows; precision, recall and f1 need the positive class (binary only)
ROW_MEANS = {"mape", "mae", "rmse", "r2", "accuracy", "log_loss"}
BINARY_ONLY = {"precision", "recall", "f1", "roc_auc"}
PROBA_FLOOR = 1e-15  # as scikit-learn clips probabilities for log loss


def row_counts(block: np.ndarray, rows: int) -> np.ndarray:
    """(resamples, rows): how often each holdout row was drawn in each resample."""
    offsets = np.arange(len(block))[:, None] * rows
    return np.bincount((block + offsets).ravel(), minlength=len(block) * rows).reshape(len(block), rows)


def resampled_scores(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                     classes: np.ndarray | None, block: np.ndarray) -> np.ndarray | None:
    """The metric on each resample (rows of `block` are drawn row positions); NaN where it is undefined (AUC of a
    resample with one class); None when it must be scored one resample at a time."""
    multiclass = classes is not None and len(classes) > 2
    if metric in BINARY_ONLY and multiclass or metric not in ROW_MEANS | BINARY_ONLY:
        return None
    if metric == "log_loss" and (proba is None or classes is None):
        return None
    counts = row_counts(block, len(y)).astype("float64")
    drawn = counts.sum(axis=1)
    if metric in {"mape", "mae", "rmse", "accuracy", "log_loss"}:
        per_row = _per_row(metric, y, predicted, proba, classes)
        mean = counts @ per_row / drawn
        return np.sqrt(mean) if metric == "rmse" else mean
    if metric == "r2":
        y = y.astype("float64")
        residual = counts @ (predicted - y) ** 2
        mean = counts @ y / drawn
        total = counts @ y**2 - drawn * mean**2
        return 1 - residual / np.where(total > 1e-12 * np.maximum(counts @ y**2, 1.0), total, np.nan)
    positive = classes[-1] if classes is not None else 1
    truth = y == positive
    if metric == "roc_auc":
        return None if proba is None else _auc(counts, truth, proba)
    said = predicted == positive
    tp, fp, fn = counts @ (truth & said), counts @ (~truth & said), counts @ (truth & ~said)
    with np.errstate(divide="ignore", invalid="ignore"):  # zero_division=0, as in cairn.metrics.score
        if metric == "precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        if metric == "recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def _per_row(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
             classes: np.ndarray | None) -> np.ndarray:
    if metric == "mape":
        return np.abs(predicted - y) / np.maximum(np.abs(y), 1e-12)
    if metric == "mae":
        return np.abs(predicted - y).astype("float64")
    if metric == "rmse":
        return ((predicted - y) ** 2).astype("float64")
    if metric == "accuracy":
        return (predicted == y).astype("float64")
    assert proba is not None and classes is not None
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    proba = np.clip(proba / proba.sum(axis=1, keepdims=True), PROBA_FLOOR, 1 - PROBA_FLOOR)
    return -np.log(proba[np.arange(len(y)), np.searchsorted(classes, y)])


def _auc(counts: np.ndarray, truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC with rows weighted by their draws: the chance a drawn positive outscores a drawn negative, ties
    counting half. Rows are grouped by equal score so ties are exact."""
    order = np.argsort(scores, kind="stable")
    _, starts = np.unique(scores[order], return_index=True)
    ranked = counts[:, order]
    positives = np.add.reduceat(ranked * truth[order], starts, axis=1)
    negatives = np.add.reduceat(ranked * ~truth[order], starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives  # negatives with a strictly lower score
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (positives * (below + negatives / 2)).sum(axis=1) / pairs, np.nan)

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

# accuracy, log loss and Brier are means over rows; the binary ones need the positive class: `classes[-1]`
ROW_MEANS = {"mape", "mae", "rmse", "r2", "accuracy", "log_loss", "brier"}
BINARY_ONLY = {"precision", "recall", "f1", "roc_auc", "average_precision", "balanced_accuracy", "brier"}
PROBA_FLOOR = 1e-15  # as scikit-learn clips probabilities for log loss
# multiclass: the mean over the classes present in the resample (in its truth or its predictions), as
# scikit-learn's average="macro" reads the labels it is given; balanced accuracy: the mean recall of the classes
# in the truth
MACRO_WHEN_MULTICLASS = {"precision", "recall", "f1", "balanced_accuracy"}


def row_counts(block: np.ndarray, rows: int) -> np.ndarray:
    """(resamples, rows): how often each holdout row was drawn in each resample."""
    offsets = np.arange(len(block))[:, None] * rows
    return np.bincount((block + offsets).ravel(), minlength=len(block) * rows).reshape(len(block), rows)


def resampled_scores(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                     classes: np.ndarray | None, block: np.ndarray) -> np.ndarray | None:
    """The metric on each resample (rows of `block` are drawn row positions); NaN where it is undefined (AUC of a
    resample with one class); None when it must be scored one resample at a time."""
    multiclass = classes is not None and len(classes) > 2
    if classes is not None and (metric == "macro_f1" or multiclass and metric in MACRO_WHEN_MULTICLASS):
        return _macro(metric, *class_counts(y, predicted, classes, block))
    if metric in BINARY_ONLY and multiclass or metric not in ROW_MEANS | BINARY_ONLY:
        return None
    if metric in {"log_loss", "brier"} and (proba is None or classes is None):
        return None
    counts = row_counts(block, len(y)).astype("float64")
    drawn = counts.sum(axis=1)
    if metric in {"mape", "mae", "rmse", "accuracy", "log_loss", "brier"}:
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
    if metric == "average_precision":
        return None if proba is None else _average_precision(counts, truth, proba)
    said = predicted == positive
    tp, fp, fn = counts @ (truth & said), counts @ (~truth & said), counts @ (truth & ~said)
    with np.errstate(divide="ignore", invalid="ignore"):  # zero_division=0, as in cairn.metrics.score
        if metric == "balanced_accuracy":  # one class drawn: scikit-learn's mean recall of the classes present
            tn = counts @ (~truth & ~said)
            recalls = np.stack([np.where(tp + fn > 0, tp / (tp + fn), np.nan),
                                np.where(tn + fp > 0, tn / (tn + fp), np.nan)])
            return np.nanmean(recalls, axis=0)
        if metric == "precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        if metric == "recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def class_counts(y: np.ndarray, predicted: np.ndarray, classes: np.ndarray, block: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(resamples, labels) each: true positives, rows of the label in the truth, and rows predicted as it. The
    labels are `classes` first, in their order, then any other label the truth or the predictions hold."""
    labels = list(np.asarray(classes).tolist())
    where = {label: index for index, label in enumerate(labels)}
    for value in [*np.asarray(y).tolist(), *np.asarray(predicted).tolist()]:
        if value not in where:
            where[value] = len(labels)
            labels.append(value)
    truth, said = (np.fromiter((where[v] for v in np.asarray(a).tolist()), dtype="int64", count=len(a))
                   for a in (y, predicted))
    one_hot = np.eye(len(labels))
    counts = row_counts(block, len(y)).astype("float64")
    return counts @ (one_hot[truth] * (truth == said)[:, None]), counts @ one_hot[truth], counts @ one_hot[said]


def per_class_scores(y: np.ndarray, predicted: np.ndarray, classes: np.ndarray, block: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of each of `classes` on each resample, and its support: (resamples, classes) each.
    Precision is 0 where the class was never predicted (scikit-learn's zero_division=0); recall and F1 are NaN
    where the class is absent from the resample's truth (undefined there, left out of an interval)."""
    tp, truth_n, said_n = (part[:, :len(classes)] for part in class_counts(y, predicted, classes, block))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"precision": np.where(said_n > 0, tp / said_n, 0.0),
                "recall": np.where(truth_n > 0, tp / truth_n, np.nan),
                "f1": np.where(truth_n > 0, 2 * tp / (truth_n + said_n), np.nan),
                "support": truth_n}


def _macro(metric: str, tp: np.ndarray, truth_n: np.ndarray, said_n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "balanced_accuracy":
            return np.nanmean(np.where(truth_n > 0, tp / truth_n, np.nan), axis=1)
        present = (truth_n + said_n) > 0
        if metric == "precision":
            each = np.where(said_n > 0, tp / said_n, 0.0)
        elif metric == "recall":
            each = np.where(truth_n > 0, tp / truth_n, 0.0)
        else:  # f1, macro_f1
            each = np.where(present, 2 * tp / (truth_n + said_n), 0.0)
        return (each * present).sum(axis=1) / present.sum(axis=1)


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
    if metric == "brier":
        return (proba - (y == classes[-1])) ** 2
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    proba = np.clip(proba / proba.sum(axis=1, keepdims=True), PROBA_FLOOR, 1 - PROBA_FLOOR)
    return -np.log(proba[np.arange(len(y)), class_positions(classes, y)])


def class_positions(classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each label's column in `classes`, in any order (binary classes come positive last, not sorted)."""
    where = {label: index for index, label in enumerate(np.asarray(classes).tolist())}
    return np.fromiter((where[label] for label in np.asarray(y).tolist()), dtype="int64", count=len(y))


def _average_precision(counts: np.ndarray, truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision with rows weighted by their draws, as scikit-learn's step sum: at each distinct score,
    from the highest, the recall gained times the precision there. NaN for a resample without a positive."""
    order = np.argsort(-scores, kind="stable")
    _, starts = np.unique(-scores[order], return_index=True)
    ranked = counts[:, order]
    gained = np.add.reduceat(ranked * truth[order], starts, axis=1)
    said = np.cumsum(np.add.reduceat(ranked, starts, axis=1), axis=1)
    positives = gained.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(said > 0, np.cumsum(gained, axis=1) / said, 0.0)
        return np.where(positives > 0, (gained * precision).sum(axis=1) / positives, np.nan)


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

"""Vectorised bootstrap metrics agree with cairn.metrics.score on the same resampled rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from cairn.metrics.catalogue import REPORTED
from cairn.metrics.resampled import resampled_scores, row_counts
from cairn.metrics.scoring import score

DRAWS = 40


def _draws(rows: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, rows, size=(DRAWS, rows))


def _one_by_one(metric, y, predicted, proba, classes, block):
    return np.array([score(metric, y[r], predicted[r], None if proba is None else proba[r], classes=classes)
                     for r in block])


def _scikit_learn(metric, y, predicted, proba, classes, block):
    """The reference for classification: cairn.metrics.score counts these itself, through the same code."""
    multiclass = len(classes) > 2
    results = []
    for r in block:
        truth, said = y[r], predicted[r]
        if metric == "accuracy":
            results.append(skm.accuracy_score(truth, said))
        elif metric == "log_loss":
            p = proba[r] if multiclass else np.column_stack([1 - proba[r], proba[r]])
            results.append(skm.log_loss(truth, p, labels=classes))
        elif metric == "roc_auc":
            results.append(skm.roc_auc_score(truth == classes[-1], proba[r]))
        elif metric == "average_precision":
            results.append(skm.average_precision_score(truth == classes[-1], proba[r]))
        elif metric == "brier":
            results.append(skm.brier_score_loss(truth == classes[-1], proba[r]))
        elif metric == "balanced_accuracy":
            results.append(skm.balanced_accuracy_score(truth, said))
        else:
            function = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric]
            results.append(function(truth, said, pos_label=classes[-1], zero_division=0))
    return np.array(results)


def test_row_counts_count_every_draw():
    block = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(row_counts(block, 3), [[2, 0, 1], [0, 1, 2]])


@pytest.mark.parametrize("metric", REPORTED["regression"])
def test_regression_metrics_match_scoring_each_resample(metric):
    rng = np.random.default_rng(0)
    y = rng.lognormal(5, 1, 300)
    predicted = y * rng.normal(1, 0.2, 300)
    block = _draws(300)
    fast = resampled_scores(metric, y, predicted, None, None, block)
    np.testing.assert_allclose(fast, _one_by_one(metric, y, predicted, None, None, block), rtol=1e-9)


@pytest.mark.parametrize("metric", REPORTED["binary"])
def test_binary_metrics_match_scoring_each_resample(metric):
    rng = np.random.default_rng(1)
    classes = np.array(["no", "yes"])
    y = np.where(rng.random(250) < 0.3, "yes", "no").astype(object)
    proba = np.clip((y == "yes") * 0.3 + rng.random(250) * 0.7, 0, 1).round(1)  # rounded: many tied scores
    predicted = np.where(proba > 0.5, "yes", "no").astype(object)
    block = _draws(250)
    fast = resampled_scores(metric, y, predicted, proba, classes, block)
    assert fast is not None and len(fast) == DRAWS
    np.testing.assert_allclose(fast, _scikit_learn(metric, y, predicted, proba, classes, block), rtol=1e-9)
    np.testing.assert_allclose(fast, _one_by_one(metric, y, predicted, proba, classes, block), rtol=1e-9)


def test_multiclass_accuracy_and_log_loss_match_and_auc_takes_the_slow_path():
    rng = np.random.default_rng(2)
    classes = np.array(["a", "b", "c"])
    y = rng.choice(classes, 200).astype(object)
    proba = rng.dirichlet([1, 1, 1], 200)
    predicted = classes[proba.argmax(axis=1)].astype(object)
    block = _draws(200)
    for metric in ("accuracy", "log_loss"):
        np.testing.assert_allclose(resampled_scores(metric, y, predicted, proba, classes, block),
                                   _scikit_learn(metric, y, predicted, proba, classes, block), rtol=1e-9)
    assert resampled_scores("roc_auc", y, predicted, proba, classes, block) is None  # macro f1: test_macro_metrics


def test_auc_of_a_resample_with_one_class_is_undefined():
    y = np.array(["no", "no", "yes"], dtype=object)
    block = np.array([[0, 1, 0], [0, 1, 2]])
    auc = resampled_scores("roc_auc", y, y, np.array([0.1, 0.4, 0.9]), np.array(["no", "yes"]), block)
    assert np.isnan(auc[0]) and auc[1] == 1.0
    with pytest.raises(ValueError, match="only one class"):
        score("roc_auc", y[:2], y[:2], np.array([0.1, 0.4]), classes=np.array(["no", "yes"]))


@pytest.mark.parametrize("metric", REPORTED["binary"])
def test_binary_metrics_read_the_positive_class_last_whatever_sorts_last(metric):
    """Credit data: 'bad' is the positive class though 'good' sorts last; every metric scores 'bad'."""
    rng = np.random.default_rng(4)
    y = np.where(rng.random(200) < 0.3, "bad", "good").astype(object)
    proba_bad = np.clip((y == "bad") * 0.4 + rng.random(200) * 0.6, 0, 1)
    predicted = np.where(proba_bad >= 0.5, "bad", "good").astype(object)
    as_positive = score(metric, y, predicted, proba_bad, classes=np.array(["good", "bad"]))
    flipped = {"bad": "yes", "good": "no"}  # the same problem where the positive class also sorts last
    y_yes, said_yes = (np.array([flipped[v] for v in a], dtype=object) for a in (y, predicted))
    assert as_positive == pytest.approx(score(metric, y_yes, said_yes, proba_bad, classes=np.array(["no", "yes"])))
    if metric in {"recall", "precision", "average_precision", "brier"}:
        reference = {"recall": skm.recall_score, "precision": skm.precision_score}.get(metric)
        expected = (reference(y, predicted, pos_label="bad") if reference else
                    skm.average_precision_score(y == "bad", proba_bad) if metric == "average_precision" else
                    skm.brier_score_loss(y == "bad", proba_bad))
        assert as_positive == pytest.approx(expected)


def test_balanced_accuracy_of_a_multiclass_problem_is_scikit_learns():
    rng = np.random.default_rng(5)
    classes = np.array(["a", "b", "c"])
    y = rng.choice(classes, 120).astype(object)
    predicted = np.where(rng.random(120) < 0.6, y, rng.choice(classes, 120)).astype(object)
    value = score("balanced_accuracy", y, predicted, None, classes=classes)
    assert value == pytest.approx(skm.balanced_accuracy_score(y, predicted)) and 0.5 < value < 1

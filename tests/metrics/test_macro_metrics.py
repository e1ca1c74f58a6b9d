"""Multiclass metrics counted per class (cairn.metrics.resampled.class_counts): macro F1, macro precision and
recall, balanced accuracy and each class's precision, recall and F1 equal scikit-learn's on every resample,
including resamples that lack a class and labels the model was never trained on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from cairn.config.schema import SuccessCriterion
from cairn.metrics.catalogue import DEFAULT_METRIC, REPORTED, lower_is_better, metrics_of
from cairn.metrics.resampled import per_class_scores, resampled_scores
from cairn.metrics.scoring import score

CLASSES = np.array(["a", "b", "c", "d"])


def _problem(rows: int = 300, seed: int = 2):
    """Unbalanced classes ('d' is 5%), a model right 60% of the time that never says 'd'."""
    rng = np.random.default_rng(seed)
    y = rng.choice(CLASSES, rows, p=[0.5, 0.3, 0.15, 0.05]).astype(object)
    predicted = np.where((rng.random(rows) < 0.6) & (y != "d"), y, rng.choice(CLASSES[:3], rows)).astype(object)
    return y, predicted, rng.integers(0, rows, size=(60, rows))


REFERENCE = {
    "macro_f1": lambda t, s: skm.f1_score(t, s, average="macro", zero_division=0),
    "f1": lambda t, s: skm.f1_score(t, s, average="macro", zero_division=0),
    "precision": lambda t, s: skm.precision_score(t, s, average="macro", zero_division=0),
    "recall": lambda t, s: skm.recall_score(t, s, average="macro", zero_division=0),
    "balanced_accuracy": skm.balanced_accuracy_score,
}


@pytest.mark.filterwarnings("ignore:A single label was found")  # the one-row resample, in scikit-learn
@pytest.mark.parametrize("metric", sorted(REFERENCE))
def test_macro_metrics_match_scikit_learn_on_every_resample(metric):
    y, predicted, block = _problem()
    block[0, :] = np.flatnonzero(y != "d")[0]  # a resample of one row: one class present
    fast = resampled_scores(metric, y, predicted, None, CLASSES, block)
    expected = [REFERENCE[metric](y[rows], predicted[rows]) for rows in block]
    np.testing.assert_allclose(fast, expected, rtol=1e-9)
    assert score(metric, y, predicted, classes=CLASSES) == pytest.approx(REFERENCE[metric](y, predicted))


def test_macro_f1_of_a_binary_problem_averages_both_classes():
    rng = np.random.default_rng(7)
    y = np.where(rng.random(200) < 0.2, "bad", "good").astype(object)
    predicted = np.where(rng.random(200) < 0.8, y, np.where(y == "bad", "good", "bad")).astype(object)
    classes = np.array(["good", "bad"])
    expected = skm.f1_score(y, predicted, average="macro")
    assert score("macro_f1", y, predicted, classes=classes) == pytest.approx(expected)
    assert score("macro_f1", y, predicted) == pytest.approx(expected)  # without classes: scikit-learn itself
    assert expected != pytest.approx(score("f1", y, predicted, classes=classes))  # f1 is of 'bad' alone


def test_a_label_outside_the_classes_counts_as_scikit_learn_counts_it():
    y, predicted, block = _problem()
    y[:5] = "unseen"
    fast = resampled_scores("macro_f1", y, predicted, None, CLASSES, block)
    np.testing.assert_allclose(fast, [REFERENCE["macro_f1"](y[r], predicted[r]) for r in block], rtol=1e-9)


def test_per_class_figures_are_scikit_learns_and_undefined_where_a_class_is_absent():
    y, predicted, block = _problem()
    whole = per_class_scores(y, predicted, CLASSES, np.arange(len(y))[None, :])
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, predicted, labels=CLASSES,
                                                                         zero_division=0)
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1), ("support", support)):
        np.testing.assert_allclose(whole[name][0], expected, rtol=1e-12)
    assert whole["precision"][0, 3] == 0.0 and whole["support"][0, 3] == (y == "d").sum() > 0  # never said 'd'
    without_d = np.flatnonzero(y != "d")
    drawn = per_class_scores(y, predicted, CLASSES, np.stack([without_d[:100], np.arange(100)]))
    assert np.isnan(drawn["recall"][0, 3]) and np.isnan(drawn["f1"][0, 3])  # no 'd' in that resample's truth
    assert drawn["support"][0, 3] == 0
    rows = np.arange(100)
    expected = skm.precision_recall_fscore_support(y[rows], predicted[rows], labels=CLASSES, zero_division=0)
    np.testing.assert_allclose(drawn["precision"][1], expected[0], rtol=1e-12)


def test_success_criteria_read_the_direction_of_multiclass_metrics():
    assert {"log_loss", "macro_f1", "accuracy", "balanced_accuracy"} <= set(metrics_of("multiclass"))
    assert lower_is_better("log_loss") and not lower_is_better("macro_f1")
    assert SuccessCriterion(metric="macro_f1", above=0.6).text() == "MACRO_F1 > 0.6"
    assert REPORTED["multiclass"][:2] == ("accuracy", "macro_f1") and DEFAULT_METRIC["multiclass"] == "accuracy"
    with pytest.raises(ValueError, match="'above' for macro_f1"):
        SuccessCriterion(metric="macro_f1", below=0.6)
    with pytest.raises(ValueError, match="'below' for log_loss"):
        SuccessCriterion(metric="log_loss", above=0.6)

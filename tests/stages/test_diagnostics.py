"""The threshold's objectives, the diagnostic numbers and error by segment, on small synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from cairn.config.schema import Business
from cairn.model.trained import FeatureSpec
from cairn.stages.business import business_case
from cairn.stages.diagnostics import holdout_diagnostics
from cairn.stages.segments import MIN_ROWS, worst_segments
from cairn.stages.training.threshold import tune_threshold


def _scores(rows: int = 2_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(rows) < 0.2
    proba = np.clip(0.15 + 0.35 * truth + rng.normal(0, 0.18, rows), 0, 1)
    return proba, truth


def _case(**business: object):
    return business_case(Business.model_validate({"problem": "binary", "target": "y", **business}))


def test_a_cost_sets_the_threshold_where_the_total_cost_is_least():
    proba, truth = _scores()
    decision = tune_threshold(proba, truth, case=_case(cost={"false_positive": 1, "false_negative": 5}),
                              positive=True)
    def cost(threshold: float) -> float:
        said = proba >= threshold
        return float((said & ~truth).sum() + 5 * (~said & truth).sum())
    assert decision.metric == "cost" and decision.value < 0.5
    assert cost(decision.value) <= min(cost(t) for t in np.linspace(0.01, 0.99, 99)) + 1e-9
    assert cost(decision.value) < cost(0.5)


def test_f1_is_maximised_and_a_threshold_free_metric_keeps_half_and_says_so():
    proba, truth = _scores(seed=1)
    f1 = tune_threshold(proba, truth, case=_case(success=[{"metric": "f1", "above": 0.5}]), positive=True)
    best = max(skm.f1_score(truth, proba >= t) for t in np.linspace(0.01, 0.99, 99))
    assert skm.f1_score(truth, proba >= f1.value) >= best - 1e-9
    auc = tune_threshold(proba, truth, case=_case(success=[{"metric": "roc_auc", "above": 0.8}]), positive=True)
    assert auc.value == 0.5 and auc.metric == "default" and "ROC AUC, does not depend on a threshold" in auc.text


def test_a_precision_target_is_met_out_of_fold_with_the_best_recall():
    proba, truth = _scores(seed=2)
    decision = tune_threshold(proba, truth, case=_case(success=[{"metric": "precision", "above": 0.8}]),
                              positive=True)
    said = proba >= decision.value
    assert skm.precision_score(truth, said) > 0.8
    looser = proba >= decision.value - 0.05
    assert skm.recall_score(truth, looser) >= skm.recall_score(truth, said)


def test_regression_diagnostics_and_the_worst_segment_sentence():
    rng = np.random.default_rng(3)
    rows = 600
    frame = pd.DataFrame({"Neighborhood": rng.choice(["Edwards", "Gilbert", "Sawyer"], rows),
                          "Area": rng.uniform(500, 3000, rows)})
    y = frame["Area"].to_numpy() * 100
    noise = np.where(frame["Neighborhood"] == "Edwards", 0.3, 0.05)
    predicted = y * (1 + rng.normal(0, 1, rows) * noise)
    diagnostics = holdout_diagnostics(y, predicted, None, problem="regression", classes=None)
    assert len(diagnostics.predicted) == rows and diagnostics.actual[0] == pytest.approx(y[0])
    features = [FeatureSpec("Neighborhood", "category"), FeatureSpec("Area", "number")]
    segments = worst_segments(frame, y, predicted, None, metric="mape", classes=None, features=features,
                              ranked=["Area", "Neighborhood"], confidence=0.95, seed=0)
    worst = segments[0]
    assert worst.condition == "Neighborhood = Edwards" and worst.rows >= MIN_ROWS
    assert worst.ci_low < worst.value < worst.ci_high and worst.value > 2 * worst.overall
    assert worst.sentence.startswith("The model is worst on rows with Neighborhood = Edwards: MAPE ")
    assert "95% CI" in worst.sentence and f"{worst.rows} rows" in worst.sentence


def test_binary_diagnostics_match_scikit_learn_and_mark_the_threshold():
    proba, truth = _scores(seed=4)
    y = np.where(truth, "bad", "good").astype(object)
    said = np.where(proba >= 0.3, "bad", "good").astype(object)
    d = holdout_diagnostics(y, said, proba, problem="binary", classes=["bad", "good"], positive="bad", threshold=0.3)
    assert d.roc[0].area == pytest.approx(skm.roc_auc_score(truth, proba))
    assert d.precision_recall.area == pytest.approx(skm.average_precision_score(truth, proba))
    assert d.at_threshold == pytest.approx((skm.recall_score(y, said, pos_label="bad"),
                                            skm.precision_score(y, said, pos_label="bad")))
    assert d.confusion == skm.confusion_matrix(y, said, labels=["bad", "good"]).tolist()
    assert d.calibration.area == pytest.approx(skm.brier_score_loss(truth, proba))


def test_multiclass_curves_per_class_and_a_class_absent_from_the_holdout():
    rng = np.random.default_rng(5)
    classes = ["a", "b", "c"]
    y = rng.choice(["a", "b"], 300).astype(object)  # 'c' was trained on, never held out
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[:, 0] += (y == "a") * 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    said = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    d = holdout_diagnostics(y, said, proba, problem="multiclass", classes=classes)
    assert [curve.name for curve in d.roc] == ["a", "b"]
    assert d.roc[0].area == pytest.approx(skm.roc_auc_score(y == "a", proba[:, 0]))
    assert d.notes == ["class 'c' never appears in the holdout: its curves and per-class scores are left out"]
    assert np.asarray(d.confusion).shape == (3, 3) and np.asarray(d.confusion)[2].sum() == 0


def test_calibration_is_kept_only_when_it_lowers_the_cross_fitted_log_loss():
    from cairn.model.calibration import Calibration
    from cairn.stages.training.calibration import calibrate

    rng = np.random.default_rng(6)
    rows = 3_000
    true_proba = rng.beta(1, 4, rows)
    truth = rng.random(rows) < true_proba
    folds = [(np.flatnonzero(np.arange(rows) % 5 != k), np.flatnonzero(np.arange(rows) % 5 == k)) for k in range(5)]
    kept, _, note = calibrate(true_proba, truth, folds)
    assert kept is None and note.startswith("probabilities not calibrated")
    overconfident = true_proba**2.5  # far too low for the positives
    calibration, crossed, note = calibrate(overconfident, truth, folds)
    assert calibration is not None and note.startswith("probabilities calibrated (")
    assert skm.log_loss(truth, crossed) < 0.99 * skm.log_loss(truth, overconfident)
    assert Calibration.from_json(calibration.as_json()) == calibration
    two = calibration.columns(np.column_stack([1 - overconfident, overconfident]), positive_column=1)
    np.testing.assert_allclose(two.sum(axis=1), 1.0)
    assert np.all(np.diff(two[np.argsort(overconfident), 1]) >= -1e-12)  # monotone: the ranking is kept


def test_one_validation_fold_is_calibrated_cross_fitted_on_parts_of_its_rows():
    """A search on one fold (training.validation) has out-of-fold probabilities only on that fold's rows, and no
    other fold to fit a map on: its rows are cut into parts, each calibrated by a map fitted on the rest."""
    from cairn.stages.training.calibration import calibrate

    rng = np.random.default_rng(6)
    rows = 5_000
    valid = np.sort(rng.choice(rows, 1_000, replace=False))
    fit = np.setdiff1d(np.arange(rows), valid)
    true_proba = np.full(rows, np.nan)
    true_proba[valid] = rng.beta(1, 4, len(valid))
    truth = np.zeros(rows, dtype=bool)
    truth[valid] = rng.random(len(valid)) < true_proba[valid]
    overconfident = true_proba**2.5
    calibration, crossed, note = calibrate(overconfident, truth, [(fit, valid)])
    assert calibration is not None and note.startswith("probabilities calibrated ("), note
    assert np.isnan(crossed[fit]).all() and np.isfinite(crossed[valid]).all()
    assert skm.log_loss(truth[valid], crossed[valid]) < 0.9 * skm.log_loss(truth[valid], overconfident[valid])
    kept, _, note = calibrate(true_proba, truth, [(fit, valid)])
    assert kept is None and note.startswith("probabilities not calibrated"), note

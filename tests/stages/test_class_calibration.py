"""A multiclass model's temperature: fitted out of fold, kept only when it lowers the log loss, and answered the
same way by the pipeline's caller, the holdout, the bundle and the service."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
import yaml

from cairn.model.calibration import Calibration, tempered
from cairn.project import Project
from cairn.stages.training.calibration import calibrate_classes, fit_temperature
from tests.examples import QUICK, copy_example


def _drawn(rows: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Honest probabilities of `classes` classes and labels drawn from them."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(classes, 0.7), size=rows)
    codes = np.array([rng.choice(classes, p=row) for row in proba])
    return proba, codes


def _log_loss(codes: np.ndarray, proba: np.ndarray) -> float:
    """As cairn clips: a probability below 1e-6 counts as 1e-6."""
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(codes)), codes], 1e-6, 1.0))))


def _folds(rows: int, count: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    parts = np.array_split(np.random.default_rng(1).permutation(rows), count)
    return [(np.concatenate([p for j, p in enumerate(parts) if j != i]), part) for i, part in enumerate(parts)]


def test_tempered_keeps_each_rows_order_and_sums_to_one():
    proba = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    for temperature in (0.5, 1.0, 3.0):
        out = tempered(proba, temperature)
        np.testing.assert_allclose(out.sum(axis=1), 1.0)
        assert (np.argmax(out, axis=1) == np.argmax(proba, axis=1)).all()
    np.testing.assert_allclose(tempered(proba[:1], 1.0), proba[:1])
    softer = tempered(proba[:1], 3.0)[0]
    assert softer[0] < 0.7 and softer[2] > 0.1  # above 1: less confident
    assert np.isfinite(tempered(proba, 0.05)).all()  # a 0 probability is clipped before its log


def test_overconfident_probabilities_get_the_temperature_that_undoes_them():
    honest, codes = _drawn(3_000, 4, seed=0)
    overconfident = tempered(honest, 1 / 3)  # p ** 3, renormalised
    assert fit_temperature(overconfident, codes) == pytest.approx(3.0, rel=0.1)
    calibration, note = calibrate_classes(overconfident, codes, _folds(len(codes)))
    assert calibration is not None and calibration.method == "temperature"
    assert calibration.temperature == pytest.approx(3.0, rel=0.1)
    raw = _log_loss(codes, overconfident)
    calibrated = _log_loss(codes, calibration.probabilities(overconfident))
    assert calibrated < raw * 0.8
    assert note.startswith("probabilities calibrated by a temperature of 3")
    assert f"out-of-fold log loss {raw:.4f} -> " in note


def test_honest_probabilities_stay_as_they_are_and_the_note_says_why():
    honest, codes = _drawn(3_000, 4, seed=2)
    calibration, note = calibrate_classes(honest, codes, _folds(len(codes)))
    assert calibration is None
    assert note.startswith("probabilities not calibrated: a temperature fitted on the other folds took")


def test_rows_in_no_fold_and_too_few_rows():
    honest, codes = _drawn(400, 3, seed=3)
    overconfident = tempered(honest, 0.25)
    overconfident[:100] = np.nan  # rows of the holdout or outside the searched sample
    calibration, _ = calibrate_classes(overconfident, codes, _folds(400))
    assert calibration is not None and calibration.temperature > 2
    calibration, note = calibrate_classes(overconfident[:140], codes[:140], _folds(140))
    assert calibration is None and note == "probabilities not calibrated: too few out-of-fold rows"


def test_one_validation_fold_is_judged_on_parts_of_its_rows():
    honest, codes = _drawn(1_000, 3, seed=4)
    overconfident = tempered(honest, 0.3)
    train, valid = np.arange(700), np.arange(700, 1_000)
    overconfident[train] = np.nan
    calibration, note = calibrate_classes(overconfident, codes, [(train, valid)])
    assert calibration is not None and "fitted on the other parts of the fold" in note


def test_a_slight_miscalibration_is_left_alone_below_the_1_percent_gain():
    honest, codes = _drawn(3_000, 4, seed=5)
    slightly = tempered(honest, 1 / 1.15)  # cross-fitted, 0.9768 -> 0.9739: 0.3% lower
    raw, best = _log_loss(codes, slightly), _log_loss(codes, tempered(slightly, fit_temperature(slightly, codes)))
    assert 0 < raw - best < 0.01 * raw  # a real gain, in sample, but below the bar
    calibration, note = calibrate_classes(slightly, codes, _folds(len(codes)))
    assert calibration is None and "not 1% lower" in note


def test_the_gain_is_judged_with_each_folds_temperature_fitted_on_the_others():
    honest, codes = _drawn(600, 3, seed=6)
    overconfident = tempered(honest, 0.4)
    folds = _folds(len(codes))
    crossed = np.empty_like(overconfident)
    for train, valid in folds:
        crossed[valid] = tempered(overconfident[valid], fit_temperature(overconfident[train], codes[train]))
    in_sample = tempered(overconfident, fit_temperature(overconfident, codes))
    assert _log_loss(codes, crossed) > _log_loss(codes, in_sample)  # the in-sample figure would flatter it
    _, note = calibrate_classes(overconfident, codes, folds)
    assert f"-> {_log_loss(codes, crossed):.4f} with each fold's temperature" in note


def test_certain_and_right_everywhere_keeps_no_temperature():
    codes = np.arange(1_000) % 3
    certain = np.eye(3)[codes]
    calibration, note = calibrate_classes(certain, codes, _folds(1_000))
    assert calibration is None and "not 1% lower" in note


def test_a_sharp_temperature_never_serves_a_probability_below_the_floor():
    proba = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    sharp = Calibration("temperature", temperature=0.05).probabilities(proba)
    assert sharp.min() >= 0.99e-6 and np.allclose(sharp.sum(axis=1), 1.0)
    assert sharp[0, 0] == pytest.approx(1 - 2e-6, abs=1e-8)


def test_each_label_is_read_from_its_own_out_of_fold_column():
    """Integer labels, sorted as the training data sorts them: a column mix-up would fit a temperature to the
    wrong class's probabilities (much softer than the 1/0.3 that undoes this sharpening)."""
    from types import SimpleNamespace

    from cairn.stages.training.threshold import class_decision

    honest, codes = _drawn(2_000, 3, seed=7)
    labels = np.array([10, 20, 30])
    data = SimpleNamespace(classes=labels, y=labels[codes], split=SimpleNamespace(folds=_folds(2_000)))
    board = SimpleNamespace(chosen="lightgbm", blend={})
    searched = {"lightgbm": SimpleNamespace(best=SimpleNamespace(oof=tempered(honest, 0.3)))}
    case = SimpleNamespace(problem="multiclass", positive_class=None)
    decided = class_decision(board, searched, data, case)
    assert decided.calibration is not None and decided.calibration.temperature == pytest.approx(1 / 0.3, rel=0.1)
    assert decided.positive_class is None and decided.threshold is None


def test_a_saved_temperature_comes_back_and_an_older_calibration_reads_as_before():
    kept = Calibration("temperature", temperature=1.8)
    assert Calibration.from_json(kept.as_json()) == kept
    older = {"method": "sigmoid", "x": [], "y": [], "slope": 1.2, "intercept": -0.1}  # saved before temperatures
    assert Calibration.from_json(older) == Calibration("sigmoid", slope=1.2, intercept=-0.1)


@pytest.fixture(scope="module")
def bands(tmp_path_factory):
    """Price bands of the example learned by a 1-neighbour k-NN, whose probabilities are all 0 or 1."""
    folder = tmp_path_factory.mktemp("bands") / "project"
    copy_example(folder, **QUICK)
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table["band"] = pd.qcut(table["Sale_Price"], 3, labels=["low", "mid", "high"]).astype(str)
    table.drop(columns=["Sale_Price"]).to_csv(folder / "data" / "bands.csv", index=False)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["data"]["source"] = "data/bands.csv"
    config["business"] = {"problem": "multiclass", "target": "band",
                          "success": [{"metric": "log_loss", "below": 5.0}]}
    config["features"] = {}
    config["models"] = {"candidates": ["knn"], "params": {"knn": {"n_neighbors": 1}}}
    config["training"] = {"tuning": {"trials": 1}}
    config["deployment"] = {"refit": "training_rows"}  # the registered model is the one the holdout judged
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(folder / "cairn.yaml", workdir=folder)
    run = project.run()
    return project, run, pd.read_csv(folder / "data" / "bands.csv")


def test_a_multiclass_model_is_served_and_judged_with_its_temperature(bands):
    from cairn.stages.business import business_case
    from cairn.stages.training.splits import split_rows

    project, run, table = bands
    model = project.load_model()
    assert model.calibration is not None and model.calibration.method == "temperature"
    assert model.calibration.temperature > 1  # 0-or-1 probabilities are overconfident: softened
    notes = " ".join(run.stage("training").notes)
    assert "probabilities calibrated by a temperature of" in notes
    split = split_rows(table, case=business_case(project.config.business), spec=project.config.training,
                       seed=project.config.seed)
    holdout = table.iloc[split.holdout_index]
    raw = dataclasses.replace(model, calibration=None).predict_proba(holdout)  # the same model, untempered
    served = model.predict_proba(holdout)
    np.testing.assert_allclose(served, tempered(raw, model.calibration.temperature), rtol=1e-9)
    classes = np.asarray(model.pipeline.classes_)
    assert (model.predict(holdout) == dataclasses.replace(model, calibration=None).predict(holdout)).all()
    # the holdout is judged through the pipeline's own predict_proba; a 1-neighbour tie between equally distant
    # rows may pick another neighbour than the served answer does, so that is what it is compared with
    judged = tempered(np.asarray(model.pipeline.predict_proba(model.frame(holdout))), model.calibration.temperature)
    expected = skm.log_loss(holdout["band"], judged, labels=classes)
    assert run.metrics["log_loss"] == pytest.approx(expected, rel=1e-6)
    assert expected < skm.log_loss(holdout["band"], np.clip(raw, 1e-15, 1), labels=classes) / 3


def test_a_tempered_model_explains_the_probabilities_it_predicts(bands):
    project, _, table = bands
    model = project.load_model()
    rows = table.drop(columns=["band"]).head(5)
    explained = model.explain(rows)
    np.testing.assert_allclose(np.asarray(explained.values), model.predict_proba(rows), rtol=1e-6, atol=1e-9)
    assert "calibrated (temperature) as /predict answers it" in explained.note
    # what the contributions add up to is named apart from the probability /predict gives
    assert all(scale.startswith("softmax logit of ") or scale.startswith("uncalibrated probability of ")
               for scale in explained.scales)
    assert explained.row(0).scale != f"probability of {explained.row(0).output}"


def test_permutation_importance_scores_the_tempered_probabilities(bands):
    """The importance of an input is the log loss lost without it, as the model answers: tempered. Untempered,
    a 1-neighbour model's 0-or-1 probabilities make every loss many times larger."""
    from cairn.stages.business import business_case
    from cairn.stages.evaluation import _importance

    project, _, table = bands
    model = project.load_model()
    rows = table.sample(400, random_state=0)
    X, y = model.frame(rows.drop(columns=["band"])), rows["band"].to_numpy()
    case = business_case(project.config.business)
    tempered_, _ = _importance(model, X, y, case=case, seed=1, budget_s=60)
    raw, _ = _importance(dataclasses.replace(model, calibration=None), X, y, case=case, seed=1, budget_s=60)
    assert max(value for _, value in tempered_) * 3 < max(value for _, value in raw)

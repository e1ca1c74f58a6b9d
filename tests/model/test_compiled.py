"""The serving path walks fitted pipelines itself: it must give every candidate's own answers, to the last digit
that matters, for a whole frame and for one request's column arrays, and a classifier's label must be its most
probable class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor
from cairn.model.bundle import bundle_artifacts, load_bundle, pickled_names
from cairn.model.compiled import compile_model, label_of
from cairn.model.trained import TrainedModel, as_model_columns, as_model_frame
from cairn.stages.selection import CATALOGUE, installed
from cairn.stages.training.train import build_pipeline
from tests.stages.test_training import ames, classification

CANDIDATES = [name for name, candidate in CATALOGUE.items() if installed(candidate)]
FEW_TREES = {"lightgbm": {"n_estimators": 60}, "xgboost": {"n_estimators": 60}, "catboost": {"iterations": 60},
             "random_forest": {"n_estimators": 30}, "extra_trees": {"n_estimators": 30},
             "hist_gradient_boosting": {"max_iter": 60}}


def fitted(name: str, table: pd.DataFrame, case, plan, *, native: bool = False):
    candidate = replace(CATALOGUE[name], native_categories=native)
    pipeline = build_pipeline(candidate, plan, case=case, seed=3, n_jobs=1, n_rows=len(table),
                              params=FEW_TREES.get(name))
    return pipeline.fit(as_model_frame(table, plan.features), table[case.target].to_numpy())


def one_row_inputs(table: pd.DataFrame, plan) -> list[dict[str, np.ndarray]]:
    names = {feature.name for feature in plan.features}
    records = table[[c for c in table.columns if c in names]].head(12).to_dict("records")
    return [as_model_columns([record], plan.features) for record in records]


@pytest.fixture(scope="module")
def house():
    return ames(300)


@pytest.mark.parametrize("name", CANDIDATES)
def test_regression_answers_equal_each_candidates_own(house, name):
    table, case, plan = house
    pipeline = fitted(name, table, case, plan)
    answer = compile_model(pipeline)
    frame = as_model_frame(table, plan.features)
    assert np.allclose(answer(frame), pipeline.predict(frame), rtol=1e-10, atol=0)
    for inputs in one_row_inputs(table, plan):
        assert np.allclose(answer(inputs), pipeline.predict(inputs), rtol=1e-10, atol=0)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", CANDIDATES)
def test_class_probabilities_and_labels_equal_each_candidates_own(name, classes):
    table, case, plan = classification(240, classes=classes)
    pipeline = fitted(name, table, case, plan)
    answer = compile_model(pipeline, classes=pipeline.classes_)
    frame = as_model_frame(table, plan.features)
    probabilities = answer(frame)
    assert probabilities.shape == (len(table), classes)
    assert np.allclose(probabilities, pipeline.predict_proba(frame), rtol=1e-9, atol=1e-12)
    # CatBoost answers a multiclass predict as one column; the label path gives one label per row
    assert (label_of(probabilities, pipeline.classes_) == np.ravel(pipeline.predict(frame))).all()
    for inputs in one_row_inputs(table, plan):
        assert np.allclose(answer(inputs), pipeline.predict_proba(inputs), rtol=1e-9, atol=1e-12)


def test_native_categories_and_blends_answer_as_their_own_predict(house):
    table, case, plan = house
    members = [fitted("lightgbm", table, case, plan, native=True), fitted("linear", table, case, plan)]
    blend = EnsembleRegressor([("lightgbm", members[0]), ("linear", members[1])], [0.7, 0.3])
    blend.estimators_, blend.weights_ = members, [0.7, 0.3]
    frame = as_model_frame(table, plan.features)
    assert np.allclose(compile_model(blend)(frame), blend.predict(frame), rtol=1e-10, atol=0)

    table, case, plan = classification(240, classes=3)
    members = [fitted("lightgbm", table, case, plan), fitted("linear", table, case, plan)]
    blend = EnsembleClassifier([("lightgbm", members[0]), ("linear", members[1])], [0.5, 0.5])
    blend.estimators_, blend.weights_, blend.classes_ = members, [0.5, 0.5], members[0].classes_
    frame = as_model_frame(table, plan.features)
    assert np.allclose(compile_model(blend, classes=blend.classes_)(frame), blend.predict_proba(frame), rtol=1e-9)


def test_a_saved_model_answers_after_loading_and_predict_proba_needs_classes(house):
    table, case, plan = house
    model = TrainedModel("houses", 1, "regression", case.target, plan.features, fitted("linear", table, case, plan))
    record = table.drop(columns=[case.target]).head(1).to_dict("records")
    before = model.predict(record)  # compiles the answer, which must not travel with the saved bytes
    manifest, stored = bundle_artifacts(model)
    loaded = load_bundle(manifest, stored.__getitem__, what="houses v1")
    assert loaded.predict(record) == pytest.approx(before, rel=1e-12)
    assert before[0] == pytest.approx(model.pipeline.predict(as_model_frame(table.head(1), plan.features))[0])
    with pytest.raises(AttributeError, match="regression model"):
        model.predict_proba(record)


def test_a_bare_estimator_given_a_frame_answers_through_its_own_checks():
    """Only the float matrices cairn's encoder produces take the direct route; a DataFrame with a pandas category
    column handed to a bare LightGBM model is converted by LightGBM itself, as its own predict would."""
    import lightgbm

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "kind": pd.Categorical(rng.choice(["a", "b", "c"], 200))})
    y = frame["x"] * 2 + frame["kind"].cat.codes
    model = lightgbm.LGBMRegressor(n_estimators=20, n_jobs=1, verbose=-1).fit(frame, y)
    assert np.allclose(compile_model(model)(frame.head(5)), model.predict(frame.head(5)), rtol=1e-12)


def test_every_level_one_hot_in_csr_answers_directly_as_each_linear_model_would():
    """sparse_linear's encoder hands a request on as CSR (levels' slopes): the direct route takes it, and answers as
    Ridge and LogisticRegression (two and three classes) do themselves."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression, Ridge

    rng = np.random.default_rng(0)
    X = sparse.random(300, 40, density=0.1, format="csr", random_state=0, dtype="float64")
    number, three = np.asarray(X.sum(axis=1)).ravel() + rng.normal(0, 0.1, 300), rng.integers(0, 3, 300)
    def checked(*_: object) -> None:
        raise AssertionError("answered through the estimator's own checks")

    ridge = Ridge(alpha=1.0).fit(X, number)
    expected = ridge.predict(X[:7])
    ridge.predict = checked  # the direct route never calls it
    assert np.allclose(compile_model(ridge)(X[:7]), expected, rtol=1e-12)
    for labels in (number > np.median(number), three):
        logistic = LogisticRegression(max_iter=500).fit(X, labels)
        expected = logistic.predict_proba(X[:7])
        logistic.predict_proba = checked
        answer = compile_model(logistic, classes=logistic.classes_)(X[:7])
        assert isinstance(answer, np.ndarray) and np.allclose(answer, expected, rtol=1e-10)


@pytest.mark.parametrize("problem", ["regression", "binary"])
def test_every_cairn_class_inside_a_fitted_model_lives_in_cairn_estimators(house, problem):
    """A saved model names its classes by module path: only cairn.estimators may appear, so nothing else in cairn
    is part of the model format. Every installed candidate, native categories and a blend are walked."""
    table, case, plan = house if problem == "regression" else classification(240, classes=2)
    pipelines = [fitted(name, table, case, plan) for name in CANDIDATES]
    pipelines += [fitted(name, table, case, plan, native=True) for name in ("lightgbm", "catboost")]
    blend_class = EnsembleRegressor if problem == "regression" else EnsembleClassifier
    blend = blend_class([("a", pipelines[0]), ("b", pipelines[1])], [0.5, 0.5])
    blend.estimators_, blend.weights_ = pipelines[:2], [0.5, 0.5]
    names = set().union(*(pickled_names(pipeline) for pipeline in [*pipelines, blend]))
    cairn_names = {name for name in names if name.startswith("cairn.")}
    assert cairn_names and all(name.startswith("cairn.estimators.") for name in cairn_names), cairn_names
    assert "cairn.estimators.encoder.TabularEncoder" in cairn_names

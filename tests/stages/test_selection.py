"""Which models compete: the default list, pinned parameters checked against each model, optional boosters,
and threads and seeds set on every estimator."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from cairn.config.schema import Constraints, Models
from cairn.errors import ConfigError
from cairn.stages.business import BusinessCase
from cairn.stages.selection import (
    CATALOGUE,
    DEFAULT_CANDIDATES,
    KNN_MAX_ROWS,
    EncodedLabels,
    choose_candidates,
    make_estimator,
)

REGRESSION = BusinessCase("regression", "y", "", "rmse", [], None)  # type: ignore[arg-type]
BINARY = BusinessCase("binary", "y", "", "roc_auc", [], None)  # type: ignore[arg-type]


def test_named_candidates_keep_their_order_and_pinned_parameters():
    chosen = choose_candidates(Models(candidates=["lightgbm", "linear", "lightgbm"],
                                      params={"lightgbm": {"num_leaves": 7}}))
    assert [c.name for c in chosen] == ["lightgbm", "linear"]
    assert chosen[0].params == {"num_leaves": 7} and chosen[0].boosted and not chosen[0].needs_scaling
    assert chosen[1].needs_scaling and chosen[1].one_hot


def test_default_list_spans_linear_boosting_averaging_and_small_data_knn():
    chosen = choose_candidates(Models.model_construct(candidates=None, params={}))
    assert list(DEFAULT_CANDIDATES) == ["linear", "lightgbm", "catboost", "extra_trees", "knn", "sparse_linear"]
    # without a category of more levels than features.max_onehot_levels, sparse_linear would be linear again
    assert [c.name for c in chosen] == ["linear", "lightgbm", "catboost", "extra_trees", "knn"]
    knn = chosen[-1]
    assert knn.max_rows == KNN_MAX_ROWS and knn.needs_scaling and knn.one_hot
    named = choose_candidates(Models(candidates=["knn"]))[0]
    assert named.max_rows is None  # named by the user: kept at any size


def test_every_catalogue_entry_builds_with_project_threads_and_seed():
    threads = {"lightgbm": "n_jobs", "xgboost": "n_jobs", "catboost": "thread_count", "random_forest": "n_jobs",
               "extra_trees": "n_jobs", "knn": "n_jobs"}
    seeds = {"lightgbm": "random_state", "xgboost": "random_state", "catboost": "random_seed",
             "random_forest": "random_state", "extra_trees": "random_state", "hist_gradient_boosting": "random_state"}
    for name, candidate in CATALOGUE.items():
        if candidate.package:
            pytest.importorskip(candidate.package)
        for case in (REGRESSION, BINARY):
            estimator = make_estimator(candidate, case=case, seed=11, n_jobs=2, n_rows=500)
            params = (estimator.estimator if isinstance(estimator, EncodedLabels) else estimator).get_params()
            if name in threads:
                assert params[threads[name]] == 2, name
            if name in seeds:
                assert params[seeds[name]] == 11, name
    catboost = pytest.importorskip("catboost")
    model = make_estimator(CATALOGUE["catboost"], case=REGRESSION, seed=1, n_jobs=1, n_rows=10)
    assert isinstance(model, catboost.CatBoostRegressor) and model.get_params()["allow_writing_files"] is False


def test_a_misspelt_parameter_gets_a_suggestion():
    with pytest.raises(ConfigError) as raised:
        choose_candidates(Models(candidates=["random_forest"], params={"random_forest": {"max_feature": 0.3}}))
    problem = raised.value.problems[0]
    assert problem.where == "models.params.random_forest.max_feature" and problem.fix == "did you mean 'max_features'?"


@pytest.mark.parametrize(("name", "problem", "param", "takes"), [
    ("sparse_linear", "binary", "alpha", "C"), ("sparse_linear", "regression", "C", "alpha"),
    ("linear", "multiclass", "alpha", "C")])
def test_a_parameter_of_another_problems_estimator_is_named_not_a_traceback(name, problem, param, takes):
    """Ridge has alpha, logistic regression C: which one applies is known once the problem is."""
    spec = Models(candidates=[name], params={name: {param: 1.0}})
    with pytest.raises(ConfigError) as raised:
        choose_candidates(spec, problem=problem)
    found = raised.value.problems[0]
    assert found.where == f"models.params.{name}.{param}" and f"for {problem}" in found.expected
    assert takes in found.fix.split("takes ", 1)[1].split(", ")
    assert choose_candidates(Models(candidates=[name], params={name: {takes: 1.0}}), problem=problem)[0].params == {
        takes: 1.0}
    assert choose_candidates(spec)[0].params == {param: 1.0}  # before the problem is known: any kind's


def test_threads_and_seeds_cannot_be_pinned_per_model():
    with pytest.raises(ConfigError) as raised:
        choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": {"n_jobs": 8}}))
    assert "set training.n_jobs instead" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        choose_candidates(Models(candidates=["extra_trees"], params={"extra_trees": {"random_state": 1}}))
    assert "set seed instead" in str(raised.value)


def test_parameters_of_a_model_that_does_not_compete_are_an_error():
    with pytest.raises(ConfigError) as raised:
        choose_candidates(Models(candidates=["linear"], params={"lightgbm": {"num_leaves": 7}}))
    assert "models.params.lightgbm" in str(raised.value) and "add lightgbm to models.candidates" in str(raised.value)


def test_an_optional_booster_that_is_not_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # what an environment without the package looks like
    with pytest.raises(ConfigError) as raised:
        choose_candidates(Models(candidates=["linear", "xgboost"]))
    assert "pip install 'cairn[boosters]'" in str(raised.value) and "needs the optional package xgboost" in str(
        raised.value)


def test_linear_pins_switch_ridge_cv_to_a_fixed_alpha():
    from sklearn.linear_model import Ridge, RidgeCV

    assert isinstance(make_estimator(CATALOGUE["linear"], case=REGRESSION, seed=0, n_jobs=1, n_rows=9), RidgeCV)
    pinned = choose_candidates(Models(candidates=["linear"], params={"linear": {"alpha": 3.0}}))[0]
    model = make_estimator(pinned, case=REGRESSION, seed=0, n_jobs=1, n_rows=9)
    assert isinstance(model, Ridge) and model.alpha == 3.0


def test_encoded_labels_answer_in_the_original_labels():
    pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] > 0.3, "high", np.where(X[:, 0] < -0.3, "low", "mid"))
    model = make_estimator(CATALOGUE["xgboost"], case=BINARY, seed=0, n_jobs=1, n_rows=120,
                           params={"n_estimators": 30})
    model.fit(X, y)
    assert list(model.classes_) == ["high", "low", "mid"] and (model.predict(X) == y).mean() > 0.9


def test_leaf_wise_boosters_get_finer_trees_on_more_rows():
    from cairn.stages.selection import default_params, leaves_for

    assert [leaves_for(rows) for rows in (None, 300, 15_000, 40_500, 63_000, 500_000)] == [15, 15, 15, 40, 63, 63]
    case = BusinessCase("regression", "y", "", "rmse", [], None)
    lightgbm, hist = choose_candidates(Models(candidates=["lightgbm", "hist_gradient_boosting"]))
    assert default_params(lightgbm, case=case, early_stopping=True, rows=40_000)["num_leaves"] == 40
    assert default_params(hist, case=case, early_stopping=True, rows=2_000)["max_leaf_nodes"] == 15


def test_the_catalogue_is_the_registry_seen_as_candidates():
    from cairn.algorithms import ALGORITHMS

    assert list(CATALOGUE) == list(ALGORITHMS)
    for name, candidate in CATALOGUE.items():
        algorithm = ALGORITHMS[name]
        assert candidate.algorithm is algorithm and candidate.params == {} and candidate.max_rows is None
        assert (candidate.description, candidate.complexity, candidate.needs_scaling, candidate.one_hot,
                candidate.boosted, candidate.package, candidate.trees_param) == (
            algorithm.description, algorithm.complexity, algorithm.needs_scaling, algorithm.one_hot,
            algorithm.boosted, algorithm.package, algorithm.trees_param)
    assert CATALOGUE["catboost"].trees_param == "iterations" and CATALOGUE["knn"].trees_param is None
    native = choose_candidates(Models(candidates=["lightgbm", "catboost", "knn"], native_categories=True))
    assert [c.native_categories for c in native] == [True, True, False]
    assert not any(c.native_categories for c in choose_candidates(Models(candidates=["lightgbm", "catboost"])))


def test_the_business_notes_say_one_minute_and_several():
    def budget_note(minutes: float) -> str:
        case = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=minutes))
        return case.describe()[-1]

    assert budget_note(1) == "training must finish within 1 minute"
    assert budget_note(0.5) == "training must finish within 0.5 minutes"
    assert budget_note(10) == "training must finish within 10 minutes"

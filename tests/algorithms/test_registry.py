"""The registry of model families: the config's names, each factory's threads and seed, each search space and
each booster's early stopping, read from one record per family."""

from __future__ import annotations

import subprocess
import sys
import typing

import numpy as np
import pytest

from cairn.algorithms import ALGORITHM_NAMES, ALGORITHMS, DEFAULT_NAMES, MAX_TREES, Algorithm
from cairn.config.schema import CandidateName, Models
from cairn.estimators.labels import EncodedLabels

THREADS = {"lightgbm": "n_jobs", "xgboost": "n_jobs", "catboost": "thread_count", "random_forest": "n_jobs",
           "extra_trees": "n_jobs", "knn": "n_jobs"}
SEEDS = {"lightgbm": "random_state", "xgboost": "random_state", "catboost": "random_seed",
         "random_forest": "random_state", "extra_trees": "random_state", "hist_gradient_boosting": "random_state"}
TREES = {"lightgbm": "n_estimators", "xgboost": "n_estimators", "catboost": "iterations",
         "hist_gradient_boosting": "max_iter"}


def _usable(algorithm: Algorithm) -> Algorithm:
    if algorithm.package:
        pytest.importorskip(algorithm.package)
    return algorithm


def _inner(estimator: object) -> typing.Any:
    return estimator.estimator if isinstance(estimator, EncodedLabels) else estimator


def _tiny(problem: str, rows: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    signal = X[:, 0] * 2 + rng.normal(size=rows) * 2  # noisy: a booster overfits it within a few hundred trees
    return X, (signal if problem == "regression" else (signal > 0).astype(int))


def test_config_names_are_the_registry_names_in_catalogue_order():
    assert typing.get_args(CandidateName) == ALGORITHM_NAMES == tuple(ALGORITHMS)
    assert ALGORITHM_NAMES == ("linear", "lightgbm", "xgboost", "catboost", "random_forest", "extra_trees",
                               "hist_gradient_boosting", "knn", "sparse_linear")
    assert all(name == algorithm.name for name, algorithm in ALGORITHMS.items())
    assert Models(candidates=list(ALGORITHM_NAMES)).candidates == list(ALGORITHM_NAMES)
    with pytest.raises(ValueError, match="svm"):
        Models(candidates=["svm"])
    assert DEFAULT_NAMES == ("linear", "lightgbm", "catboost", "extra_trees", "knn", "sparse_linear")
    assert ALGORITHMS["knn"].default_list_max_rows == 5_000
    assert [n for n, a in ALGORITHMS.items() if a.default_list_max_rows is not None] == ["knn"]


def test_the_config_gets_the_names_without_any_family_or_modelling_library():
    """Every stage reads the config and is versioned by what it imports: the names alone keep a change to one
    family from rerunning the stages that train nothing."""
    heavy = {"sklearn", "lightgbm", "catboost", "xgboost", "optuna", "numpy"}
    code = ("import sys, cairn.config.schema; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(heavy)!r})), "
            "sorted(m for m in sys.modules if m.startswith('cairn.algorithms')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] ['cairn.algorithms', 'cairn.algorithms.names']"


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_each_factory_takes_threads_and_seed_from_its_arguments(name):
    algorithm = _usable(ALGORITHMS[name])
    for problem in ("regression", "binary"):
        estimator = algorithm.estimator(problem, seed=11, n_jobs=2, n_rows=500)
        params = _inner(estimator).get_params()
        if name in THREADS:
            assert params[THREADS[name]] == 2
        if name in SEEDS:
            assert params[SEEDS[name]] == 11
        other = _inner(algorithm.estimator(problem, seed=12, n_jobs=1, n_rows=500)).get_params()
        if name in SEEDS:
            assert other[SEEDS[name]] == 12
        if name in THREADS:
            assert other[THREADS[name]] == 1
        kind = type(estimator).__name__
        assert ("Classifier" in kind or "Logistic" in kind or kind == "EncodedLabels") == (problem == "binary"), kind


def test_defaults_then_tuned_then_pinned_parameters():
    lightgbm = ALGORITHMS["lightgbm"]
    model = lightgbm.estimator("regression", seed=0, n_jobs=1, n_rows=40_000, params={"learning_rate": 0.1},
                               pinned={"learning_rate": 0.05, "num_leaves": 7})
    params = model.get_params()
    assert params["learning_rate"] == 0.05 and params["num_leaves"] == 7 and params["n_estimators"] == 600
    assert params["deterministic"] is True and params["min_child_samples"] == 10
    assert lightgbm.default_params("regression", early_stopping=True, rows=40_000)["num_leaves"] == 40
    assert ALGORITHMS["knn"].estimator("binary", seed=0, n_jobs=1, n_rows=6).get_params()["n_neighbors"] == 5
    catboost = pytest.importorskip("catboost")
    native = ALGORITHMS["catboost"].estimator("binary", seed=0, n_jobs=1, n_rows=10, native_categories=True)
    assert isinstance(native, catboost.CatBoostClassifier) and type(native).__name__ == "CatBoostCodesClassifier"


def test_the_trees_parameter_of_each_booster():
    assert {name: a.trees_param for name, a in ALGORITHMS.items() if a.boosted} == TREES
    assert all(a.trees_param is None and a.fit_stopping is None for n, a in ALGORITHMS.items() if n not in TREES)
    for name, param in TREES.items():
        algorithm = ALGORITHMS[name]
        assert algorithm.default_params("binary", early_stopping=True, rows=1_000)[param] == MAX_TREES == 2_000
        assert algorithm.default_params("binary", early_stopping=False, rows=1_000)[param] == 600
        if algorithm.installed():
            estimator = algorithm.estimator("regression", seed=0, n_jobs=1, n_rows=100, params={param: 17})
            assert _inner(estimator).get_params()[param] == 17


@pytest.mark.parametrize("name", list(TREES))
def test_each_booster_stops_early_on_the_stop_rows(name):
    algorithm = _usable(ALGORITHMS[name])
    assert algorithm.fit_stopping is not None
    for problem in ("regression", "binary"):
        X, y = _tiny(problem, 300)
        estimator = algorithm.estimator(problem, seed=0, n_jobs=1, n_rows=240,
                                        params={algorithm.trees_param: 300, "learning_rate": 0.2})
        fitted, trees = algorithm.fit_stopping(estimator, X[:240], y[:240], X[240:], y[240:], categories={},
                                               rounds=10, share=0.1)
        assert fitted is estimator and isinstance(trees, int) and 1 <= trees < 300
        assert np.asarray(fitted.predict(X[240:])).shape == (60,)


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_each_search_space_samples_parameters_the_model_accepts(name):
    optuna = pytest.importorskip("optuna")
    from cairn.stages.training.tuning import _suggest

    algorithm = _usable(ALGORITHMS[name])
    problem = "binary"
    space = algorithm.search_space(problem)
    assert space and set(space) <= set(algorithm.default_params(problem, early_stopping=False))
    X, y = _tiny(problem)
    fewer = {algorithm.trees_param: 20} if algorithm.trees_param else {}
    at_bounds = [{n: d.low if d.kind != "choice" else d.choices[0] for n, d in space.items()},
                 {n: d.high if d.kind != "choice" else d.choices[-1] for n, d in space.items()}]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    sampled = []
    for fixed in at_bounds:
        sampled.append(_suggest(optuna.trial.FixedTrial(fixed), space))
    for _ in range(2):
        trial = study.ask()
        sampled.append(_suggest(trial, space))
        study.tell(trial, 0.0)
    for params in sampled:
        for key, dim in space.items():
            value = params[key]
            if dim.kind == "choice":
                assert value in dim.choices
            else:
                assert dim.low <= value <= dim.high and isinstance(value, int if dim.kind == "int" else float)
        model = algorithm.estimator(problem, seed=0, n_jobs=1, n_rows=len(y), params={**params, **fewer})
        model.fit(X, y)
        assert np.asarray(model.predict_proba(X)).shape == (len(y), 2)


def test_pinned_parameters_leave_the_space_and_linear_regression_is_not_searched():
    assert ALGORITHMS["linear"].search_space("regression") == {}
    assert set(ALGORITHMS["linear"].search_space("multiclass")) == {"C"}
    knn = ALGORITHMS["knn"].search_space("regression", pinned={"p": 1})
    assert list(knn) == ["n_neighbors", "weights"] and knn["weights"].choices == ("uniform", "distance")
    assert ALGORITHMS["lightgbm"].search_space("binary")["num_leaves"].high == 64
    assert [a.enough_trials for a in ALGORITHMS.values()] == [8, 16, 16, 12, 8, 8, 16, 8, 6]
    # sparse_linear searches its ridge penalty for regression (RidgeCV is too slow on thousands of columns), C else
    assert set(ALGORITHMS["sparse_linear"].search_space("regression")) == {"alpha"}
    assert set(ALGORITHMS["sparse_linear"].search_space("binary")) == {"C"}


def test_knn_searches_at_least_five_neighbours_for_class_probabilities_and_two_for_a_number():
    """From 2 neighbours a probability is 0, 1/2 or 1: one holdout row whose two neighbours miss costs log loss its
    clipping floor (34.5 nats)."""
    for problem in ("binary", "multiclass"):
        space = ALGORITHMS["knn"].search_space(problem)
        assert list(space) == ["n_neighbors", "weights", "p"]  # the order the sampler suggests in
        assert (space["n_neighbors"].low, space["n_neighbors"].high, space["n_neighbors"].log) == (5, 60, True)
    assert ALGORITHMS["knn"].search_space("regression")["n_neighbors"].low == 2
    # models.params may still pin fewer: the range is the search's, not a limit
    pinned = ALGORITHMS["knn"].estimator("multiclass", seed=0, n_jobs=1, n_rows=100, pinned={"n_neighbors": 2})
    assert pinned.get_params()["n_neighbors"] == 2


def test_pinnable_parameters_are_checked_against_the_model_unless_the_library_checks_them():
    assert ALGORITHMS["lightgbm"].known_params() is None and ALGORITHMS["xgboost"].known_params() is None
    linear = ALGORITHMS["linear"].known_params()
    assert linear is not None and {"alpha", "alphas", "C", "fit_intercept"} <= linear
    forest = ALGORITHMS["random_forest"].known_params()
    assert forest is not None and "max_features" in forest and "max_feature" not in forest


def test_only_knn_may_grow_faster_than_linearly_with_rows():
    assert ALGORITHMS["knn"].cost_growth == (1.0, 1.5)
    assert {a.cost_growth for n, a in ALGORITHMS.items() if n != "knn"} == {(0.8, 1.1)}


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
def test_each_booster_stops_at_its_deadline_with_the_trees_so_far(name):
    """A fit that would grow 2,000 slow trees (a learning rate too small to stop early) ends at the deadline."""
    import time

    algorithm = _usable(ALGORITHMS[name])
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 60)), rng.normal(size=3000)
    estimator = algorithm.estimator("regression", seed=0, n_jobs=1, n_rows=2400,
                                    params={algorithm.trees_param: 2000, "learning_rate": 1e-4})
    began = time.perf_counter()
    assert algorithm.fit_stopping is not None
    fitted, trees = algorithm.fit_stopping(estimator, X[:2400], y[:2400], X[2400:], y[2400:], categories={},
                                           rounds=2000, share=0.1, deadline=began + 0.3)
    elapsed = time.perf_counter() - began
    assert elapsed < 3.0, f"{name} ran {elapsed:.1f} s past a 0.3 s deadline"
    assert 1 <= trees < 2000
    assert np.asarray(fitted.predict(X[2400:])).shape == (600,)


@pytest.mark.parametrize("name", ["extra_trees", "random_forest"])
def test_forests_bound_their_leaves_whatever_the_rows_unless_the_project_lifts_it(name):
    """A deep tree grows a leaf for nearly every row: capped, a forest's size stops growing with the data (on
    diamonds 1.1 GB -> 144 MB); models.params can lift the cap."""
    from cairn.algorithms.forests import FOREST_LEAVES

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3 * FOREST_LEAVES, 3))
    y = X[:, 0] + rng.normal(size=len(X))
    algorithm = ALGORITHMS[name]
    capped = algorithm.estimator("regression", seed=0, n_jobs=1, n_rows=len(X), params={"n_estimators": 2})
    leaves = [tree.get_n_leaves() for tree in capped.fit(X, y).estimators_]
    assert leaves == [FOREST_LEAVES, FOREST_LEAVES]
    lifted = algorithm.estimator("regression", seed=0, n_jobs=1, n_rows=len(X), params={"n_estimators": 2},
                                 pinned={"max_leaf_nodes": None})
    assert min(tree.get_n_leaves() for tree in lifted.fit(X, y).estimators_) > 1.5 * FOREST_LEAVES

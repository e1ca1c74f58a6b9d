"""Each model family's own exact contributions on the encoded matrix: (rows, columns, outputs) plus a base value.

Boosters answer with their own TreeSHAP (LightGBM `pred_contrib`, XGBoost `pred_contribs`, CatBoost
`ShapValues`): exact, the background being the training rows as the trees saw them (each node's cover). Linear
models are exact by construction: contribution = weight x encoded value, base = the intercept. The reference
record is the one whose encoding is all zeros: every number at its training mean (the encoder scales the columns
of linear models to mean 0), no missing flag, no category level, so a level contributes its own weight.
scikit-learn's forests and histogram boosting go through the `shap` package's TreeExplainer (the `explain`
extra), path-dependent and exact as well. Thread counts are the model's own, never a library default.

The space says what the outputs add up to: "target" (the regressor's prediction), "margin" (raw scores: log-odds
for two classes, softmax logits for more) or "probability" (forests average class probabilities).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cairn.errors import ConfigError

Space = Literal["target", "margin", "probability"]
_TREE_EXPLAINERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # dies with its model


LINEAR_REFERENCE = ("linear model: contributions measured from a record at the training means of the numbers, with "
                    "no category level, so a level contributes its own weight")


@dataclass(frozen=True)
class Contributions:
    """Per row and output: `base` (rows, outputs) plus `values` (rows, columns, outputs) summed over columns."""

    base: np.ndarray
    values: np.ndarray
    space: Space
    note: str = ""


def model_contributions(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions | None:
    """Exact contributions when the family has them; None for a model explained by sampling (kNN and others)."""
    from cairn.estimators.labels import EncodedLabels

    if isinstance(model, EncodedLabels):
        return model_contributions(model.estimator_, X, classifier=classifier)
    module = type(model).__module__
    if module.startswith("lightgbm."):
        return _lightgbm(model, X, classifier=classifier)
    if module.startswith("xgboost."):
        return _xgboost(model, X, classifier=classifier)
    if module.startswith("catboost.") or hasattr(model, "learns_codes_as_categories"):
        return _catboost(model, X, classifier=classifier)
    if module.startswith("sklearn.linear_model"):
        return _linear(model, X, classifier=classifier)
    if _tree_ensemble(model):
        return _sklearn_trees(model, X, classifier=classifier)
    return None


def _split(raw: np.ndarray, outputs: int) -> Contributions:
    """Booster output laid out as (rows, outputs, columns + 1), the last column the base value."""
    shaped = raw.reshape(len(raw), outputs, -1)
    return Contributions(base=shaped[:, :, -1], values=np.transpose(shaped[:, :, :-1], (0, 2, 1)), space="target")


def _space(classifier: bool) -> Space:
    return "margin" if classifier else "target"


def _threads(model: Any, name: str = "n_jobs") -> int:
    threads = getattr(model, name, None)
    return threads if isinstance(threads, int) and threads > 0 else 1


def _lightgbm(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions:
    booster = model.booster_
    raw = booster.predict(X, pred_contrib=True, num_threads=_threads(model))
    found = _split(np.asarray(raw, dtype="float64"), booster.num_model_per_iteration())
    return Contributions(found.base, found.values, _space(classifier))


def _xgboost(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions:
    import xgboost

    threads = _threads(model)
    booster = model.get_booster()
    booster.set_param({"nthread": threads})
    try:
        rounds = int(model.best_iteration) + 1  # early stopping kept fewer rounds than were fitted
        iterations = (0, rounds)
    except AttributeError:
        iterations = (0, 0)  # all of them
    raw = booster.predict(xgboost.DMatrix(X, nthread=threads), pred_contribs=True, iteration_range=iterations)
    raw = np.asarray(raw, dtype="float64")
    outputs = raw.shape[1] if raw.ndim == 3 else 1
    found = _split(raw, outputs)
    return Contributions(found.base, found.values, _space(classifier))


def _catboost(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions:
    from catboost import Pool

    columns = list(model.get_cat_feature_indices())
    if columns:
        from cairn.estimators.catboost_codes import with_codes

        pool = Pool(with_codes(X, columns), cat_features=columns)
    else:
        pool = Pool(X)
    threads = model.get_param("thread_count")
    threads = int(threads) if isinstance(threads, int) and threads > 0 else 1
    raw = np.asarray(model.get_feature_importance(pool, type="ShapValues", thread_count=threads), dtype="float64")
    outputs = raw.shape[1] if raw.ndim == 3 else 1
    found = _split(raw, outputs)
    return Contributions(found.base, found.values, _space(classifier))


def _linear(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions:
    coef = np.atleast_2d(np.asarray(model.coef_, dtype="float64"))  # (outputs, columns)
    intercept = np.broadcast_to(np.asarray(model.intercept_, dtype="float64"), (coef.shape[0],))
    values = X[:, :, None] * coef.T[None, :, :]
    base = np.broadcast_to(intercept, (len(X), coef.shape[0])).copy()
    return Contributions(base, values, _space(classifier), note=LINEAR_REFERENCE)


def _tree_ensemble(model: Any) -> bool:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    return isinstance(model, RandomForestClassifier | RandomForestRegressor | ExtraTreesClassifier
                      | ExtraTreesRegressor | HistGradientBoostingClassifier | HistGradientBoostingRegressor)


def shap_module() -> Any:
    """The `shap` package, or the error that says how to get it."""
    try:
        import shap
    except ImportError:
        raise ConfigError.single(
            "Explaining this model needs the shap package.", where="explain", expected="shap installed",
            got="not installed", fix="pip install 'cairn[explain]'") from None
    return shap


def _sklearn_trees(model: Any, X: np.ndarray, *, classifier: bool) -> Contributions:
    """Forests explain class probabilities (what they average), histogram boosting its raw scores."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    explainer = _TREE_EXPLAINERS.get(model)
    if explainer is None:  # building one walks every tree: once per fitted model
        explainer = _TREE_EXPLAINERS[model] = shap_module().TreeExplainer(model)
    values = np.asarray(explainer.shap_values(X, check_additivity=False), dtype="float64")
    if values.ndim == 2:
        values = values[:, :, None]
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype="float64"))
    base = np.broadcast_to(expected, (len(X), values.shape[2])).copy()
    if not classifier:
        space: Space = "target"
    else:
        space = "margin" if isinstance(model, HistGradientBoostingClassifier) else "probability"
    return Contributions(base, values, space)

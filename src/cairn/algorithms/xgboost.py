"""XGBoost: depth-limited gradient-boosted trees, optional (`pip install 'cairn[boosters]'`).

Its classifier wants labels 0..K-1, so it is wrapped in EncodedLabels and answers in the original labels.
"""

from __future__ import annotations

import time
from typing import Any

from cairn.algorithms.base import Algorithm
from cairn.algorithms.space import floats, ints


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"n_estimators": trees, "learning_rate": 0.03, "max_depth": 5, "min_child_weight": 1.0,
            "subsample": 0.8, "colsample_bytree": 0.5, "reg_lambda": 1.0}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    import xgboost

    common = {**params, "random_state": seed, "n_jobs": n_jobs, "tree_method": "hist", "verbosity": 0}
    if problem == "regression":
        return xgboost.XGBRegressor(**common)
    from cairn.estimators.labels import EncodedLabels

    return EncodedLabels(xgboost.XGBClassifier(**common))


def fit_stopping(estimator: Any, X: Any, y: Any, X_stop: Any, y_stop: Any, *,
                 categories: dict[str, Any], rounds: int, share: float,
                 deadline: float | None = None) -> tuple[Any, int]:
    from cairn.estimators.labels import EncodedLabels

    wrapped = isinstance(estimator, EncodedLabels)
    inner = estimator.estimator if wrapped else estimator
    inner.set_params(early_stopping_rounds=rounds)
    if deadline is not None:
        inner.set_params(callbacks=[_stop_at(deadline)])
    estimator.fit(X, y, eval_set=[(X_stop, y_stop)], verbose=False)
    fitted = estimator.estimator_ if wrapped else estimator
    return estimator, int(fitted.best_iteration) + 1


def _stop_at(deadline: float) -> Any:
    """An XGBoost callback: training ends after the tree that passes `deadline`."""
    import xgboost

    class StopAt(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return time.perf_counter() >= deadline  # True stops

    return StopAt()


XGBOOST = Algorithm(
    "xgboost", "XGBoost gradient-boosted trees",
    "high: hundreds of depth-limited trees; low bias, variance held by subsampling", needs_scaling=False,
    one_hot=False, defaults=defaults, build=build,
    space={"learning_rate": floats(0.02, 0.2, log=True), "max_depth": ints(2, 8),
           "min_child_weight": floats(0.5, 30.0, log=True), "subsample": floats(0.5, 1.0),
           "colsample_bytree": floats(0.2, 1.0), "reg_lambda": floats(1e-3, 30.0, log=True)},
    enough_trials=16, trees_param="n_estimators", rate_param="learning_rate", fit_stopping=fit_stopping,
    package="xgboost", checks_own_params=True, varies_with_seed=True,
)

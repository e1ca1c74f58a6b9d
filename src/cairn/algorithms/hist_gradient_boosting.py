"""scikit-learn's histogram gradient boosting: boosted shallow trees without an extra library.

It has no thread parameter: threadpoolctl limits its OpenMP threads around each fit.
"""

from __future__ import annotations

import inspect
from typing import Any

from cairn.algorithms.base import Algorithm
from cairn.algorithms.space import floats, ints


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"max_iter": trees, "learning_rate": 0.05, "max_leaf_nodes": leaves, "min_samples_leaf": 10,
            "l2_regularization": 1e-3}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if problem == "regression" else HistGradientBoostingClassifier
    return cls(**{"early_stopping": False, **params, "random_state": seed})


def fit_stopping(estimator: Any, X: Any, y: Any, X_stop: Any, y_stop: Any, *,
                 categories: dict[str, Any], rounds: int, share: float,
                 deadline: float | None = None) -> tuple[Any, int]:
    """It keeps the rounds it waited through; the refit stops where improvement did. scikit-learn has no callback:
    `deadline` is not checked (its histogram boosting is the fastest of the boosters per tree)."""
    estimator.set_params(early_stopping=True, n_iter_no_change=rounds)
    if "X_val" in inspect.signature(estimator.fit).parameters:  # scikit-learn >= 1.7
        estimator.fit(X, y, X_val=X_stop, y_val=y_stop)
    else:
        import numpy as np

        estimator.set_params(validation_fraction=share)
        estimator.fit(np.vstack([X, X_stop]), np.concatenate([y, y_stop]))
    return estimator, max(1, int(estimator.n_iter_) - rounds)


HIST_GRADIENT_BOOSTING = Algorithm(
    "hist_gradient_boosting", "scikit-learn histogram gradient boosting", "high: boosted shallow trees",
    needs_scaling=False, one_hot=False, defaults=defaults, build=build,
    space={"learning_rate": floats(0.02, 0.2, log=True), "max_leaf_nodes": ints(4, 64, log=True),
           "min_samples_leaf": ints(3, 60, log=True), "l2_regularization": floats(1e-3, 30.0, log=True)},
    enough_trials=16, trees_param="max_iter", rate_param="learning_rate", leaves_param="max_leaf_nodes",
    fit_stopping=fit_stopping,
)

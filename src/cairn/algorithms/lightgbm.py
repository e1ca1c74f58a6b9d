"""LightGBM: leaf-wise gradient-boosted trees, the usual leader on tabular data.

`deterministic` and `force_col_wise` make a fit repeat bit for bit on any number of threads.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from cairn.algorithms.base import Algorithm
from cairn.algorithms.space import floats, ints


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"n_estimators": trees, "learning_rate": 0.03, "num_leaves": leaves, "min_child_samples": 10,
            "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    """Categories, when learned natively, are passed at fit time (cairn.estimators.native_categories)."""
    import lightgbm

    cls = lightgbm.LGBMRegressor if problem == "regression" else lightgbm.LGBMClassifier
    return cls(**{**params, "random_state": seed, "n_jobs": n_jobs, "verbose": -1, "deterministic": True,
                  "force_col_wise": True})


def fit_stopping(estimator: Any, X: Any, y: Any, X_stop: Any, y_stop: Any, *,
                 categories: dict[str, Any], rounds: int, share: float,
                 deadline: float | None = None) -> tuple[Any, int]:
    import lightgbm

    stop_rows = ({"eval_X": (X_stop,), "eval_y": (y_stop,)}  # LightGBM >= 4.7 deprecates eval_set
                 if "eval_X" in inspect.signature(estimator.fit).parameters else {"eval_set": [(X_stop, y_stop)]})
    callbacks = [lightgbm.early_stopping(rounds, verbose=False)]
    if deadline is not None:
        callbacks.append(_stop_at(deadline))
    estimator.fit(X, y, **stop_rows, **categories, callbacks=callbacks)
    return estimator, int(estimator.best_iteration_ or estimator.n_estimators)


def _stop_at(deadline: float) -> Any:
    """A LightGBM callback ending training after the tree that passes `deadline`, keeping the trees so far."""
    import lightgbm

    def callback(env: Any) -> None:
        if time.perf_counter() >= deadline:
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # type: ignore[attr-defined]  # after early stopping's own check (order 30)
    return callback


LIGHTGBM = Algorithm(
    "lightgbm", "LightGBM gradient-boosted trees",
    "high: hundreds of shallow trees; low bias, variance held by subsampling", needs_scaling=False, one_hot=False,
    defaults=defaults, build=build,
    space={"learning_rate": floats(0.02, 0.2, log=True), "num_leaves": ints(4, 64, log=True),
           "min_child_samples": ints(3, 60, log=True), "subsample": floats(0.5, 1.0),
           "colsample_bytree": floats(0.2, 1.0), "reg_lambda": floats(1e-3, 30.0, log=True)},
    enough_trials=16, trees_param="n_estimators", rate_param="learning_rate", leaves_param="num_leaves",
    fit_stopping=fit_stopping, native_categories=True, target_statistics=True, varies_with_seed=True,
    checks_own_params=True, default_list=True,
)

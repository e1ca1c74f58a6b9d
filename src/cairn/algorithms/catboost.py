"""CatBoost: gradient-boosted oblivious (symmetric) trees; robust defaults, slower to fit.

It writes training logs to the working directory unless told not to; with native categories it learns the
encoder's code columns through cairn's own subclasses (cairn.estimators.catboost_codes).
"""

from __future__ import annotations

import time
from typing import Any

from cairn.algorithms.base import Algorithm
from cairn.algorithms.space import floats, ints


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"iterations": trees, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    import catboost

    regression = problem == "regression"
    cls = catboost.CatBoostRegressor if regression else catboost.CatBoostClassifier
    if native_categories:
        from cairn.estimators.catboost_codes import CatBoostCodesClassifier, CatBoostCodesRegressor

        cls = CatBoostCodesRegressor if regression else CatBoostCodesClassifier
    return cls(**{**params, "random_seed": seed, "thread_count": n_jobs, "verbose": False,
                  "allow_writing_files": False})


def fit_stopping(estimator: Any, X: Any, y: Any, X_stop: Any, y_stop: Any, *,
                 categories: dict[str, Any], rounds: int, share: float,
                 deadline: float | None = None) -> tuple[Any, int]:
    stop_at = {} if deadline is None else {"callbacks": [_StopAt(deadline)]}
    estimator.fit(X, y, eval_set=(X_stop, y_stop), early_stopping_rounds=rounds, verbose=False, **categories,
                  **stop_at)
    best = estimator.get_best_iteration()
    return estimator, int(best if best is not None else estimator.tree_count_ - 1) + 1


class _StopAt:
    """A CatBoost callback: training ends after the tree that passes `deadline` (CatBoost has no time limit)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        return time.perf_counter() < self.deadline  # False stops


CATBOOST = Algorithm(
    "catboost", "CatBoost gradient-boosted oblivious trees",
    "high: hundreds of symmetric trees; robust defaults, slower to fit", needs_scaling=False, one_hot=False,
    defaults=defaults, build=build,
    space={"learning_rate": floats(0.02, 0.2, log=True), "depth": ints(3, 8),
           "l2_leaf_reg": floats(0.5, 30.0, log=True)},
    enough_trials=12, trees_param="iterations", fit_stopping=fit_stopping, package="catboost",
    native_categories=True, default_list=True,
)

"""CatBoost: gradient-boosted oblivious (symmetric) trees; robust defaults, slower to fit.

It writes training logs to the working directory unless told not to; with native categories it learns the
encoder's code columns through cairn's own subclasses (cairn.estimators.catboost_codes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

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


# What one tree costs at least, per encoded column and level of depth, on one thread: CatBoost scores every border
# of every column at each level, so a tree's time follows columns x borders and hardly the rows. One thread, depth
# 6, on this project's 2-core machine: 240 rows x 5,000 normal columns 1.4-1.7 s a tree, x 500 columns 0.23 s,
# 20,000 rows x 100 columns 0.062 s; 500 columns of 4 levels 0.014 s. The constants are the least of these
# (4.7e-5 s per column and level with 239 borders, 4.6e-6 with 3): a floor on this machine, so a fit priced
# over its limit would have been cut there anyway.
PER_COLUMN_LEVEL_S = 3.3e-6
PER_BORDER_LEVEL_S = 1.8e-7
BORDER_COUNT = 254  # CatBoost's default on the CPU
DISTINCT_ROWS = 1_000  # rows whose distinct values bound a column's borders (borders stop at BORDER_COUNT)


def tree_seconds(X: Any, params: Mapping[str, Any]) -> float:
    """At least how long one tree takes on `X` (encoded, rows x columns): its timed fit cannot be cut before
    the borders are computed, and on 5,000 columns the first tree alone took 4.5 s."""
    sample = np.asarray(X[:DISTINCT_ROWS], dtype="float64")
    if sample.size == 0:
        return 0.0
    ordered = np.sort(sample, axis=0)
    distinct = 1 + (np.diff(ordered, axis=0) != 0).sum(axis=0)  # NaN sorts last and counts once or so
    borders = np.minimum(distinct - 1, int(params.get("border_count", BORDER_COUNT)))
    depth = int(params.get("depth", 6))
    return float(depth * (PER_COLUMN_LEVEL_S * sample.shape[1] + PER_BORDER_LEVEL_S * borders.sum()))


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
    enough_trials=12, trees_param="iterations", rate_param="learning_rate", fit_stopping=fit_stopping,
    package="catboost", native_categories=True, target_statistics=True, default_list=True,
    tree_seconds=tree_seconds,
    varies_with_seed=True,
)

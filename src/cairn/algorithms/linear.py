"""Ridge regression / logistic regression on one-hot categories: the linear baseline every run has.

No seed or threads to set: RidgeCV and lbfgs are deterministic, and one fit uses one BLAS call at a time.
"""

from __future__ import annotations

from typing import Any

from cairn.algorithms.base import CLASSIFICATION, Algorithm
from cairn.algorithms.space import floats

ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # RidgeCV's grid: it picks alpha by itself, no search needed


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {} if problem == "regression" else {"C": 1.0}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    """RidgeCV, or a plain Ridge when models.params pins alpha; LogisticRegression for classes."""
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV

    if problem == "regression":
        if "alpha" in params:
            return Ridge(**params)
        return RidgeCV(**{"alphas": ALPHAS, **params})
    return LogisticRegression(**{"max_iter": 2000, **params})


LINEAR = Algorithm(
    "linear", "ridge / logistic regression on one-hot categories",
    "low: one weight per encoded column; high bias, low variance", needs_scaling=True, one_hot=True,
    defaults=defaults, build=build,
    space={"C": floats(1e-3, 1e3, log=True)}, tuned_for=CLASSIFICATION,  # regression: RidgeCV picks alpha
    enough_trials=8, extra_params=frozenset({"alphas", "alpha"}),
    only_for={"alphas": frozenset({"regression"}), "alpha": frozenset({"regression"})}, default_list=True,
)

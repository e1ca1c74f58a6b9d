"""k nearest neighbours on scaled inputs: a local, assumption-free model for small data.

Every prediction searches all training rows, so it is cheap to fit and slow to answer on large data.
"""

from __future__ import annotations

from typing import Any

from cairn.algorithms.base import CLASSIFICATION, Algorithm
from cairn.algorithms.space import choice, ints

MAX_ROWS_BY_DEFAULT = 5_000  # neighbours search all training rows per prediction: fine for thousands, slow beyond
# A class probability from k neighbours moves in steps of 1/k, and a class none of them has gets 0: from fewer
# than 5 the steps are too coarse for log loss or a ranking. On palmerpenguins (220 rows) the search picked 2
# uniform neighbours by cross-validation, and the blend it led scored a holdout log loss of 0.047; from 5 up, 0.026.
MIN_NEIGHBOURS_FOR_CLASSES = 5
# Neighbours compare every predicted row with every training row: cost grows up to quadratically with rows.
GROWTH = (1.0, 1.5)


def defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"n_neighbors": 10, "weights": "distance", "p": 2}


def build(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
          native_categories: bool) -> Any:
    """No seed: the neighbours of a row do not depend on one. Never more neighbours than other rows."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsRegressor if problem == "regression" else KNeighborsClassifier
    chosen = dict(params)
    neighbours = int(min(chosen.pop("n_neighbors"), max(n_rows - 1, 1)))
    return cls(**{**chosen, "n_neighbors": neighbours, "n_jobs": n_jobs})


KNN = Algorithm(
    "knn", "k nearest neighbours on scaled inputs",
    "adjustable: few neighbours fit closely, many smooth; slow on large data", needs_scaling=True, one_hot=True,
    defaults=defaults, build=build,
    space={"n_neighbors": ints(2, 60, log=True), "weights": choice("uniform", "distance"), "p": choice(1, 2)},
    space_for={problem: {"n_neighbors": ints(MIN_NEIGHBOURS_FOR_CLASSES, 60, log=True)} for problem in CLASSIFICATION},
    enough_trials=8, cost_growth=GROWTH, default_list=True, default_list_max_rows=MAX_ROWS_BY_DEFAULT,
)

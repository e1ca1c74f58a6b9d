"""Random forests and extremely randomised trees: averaged deep trees, cairn's faster subclasses of both.

The two differ only in how a split is drawn and how many features it may look at, so they share one factory.
"""

from __future__ import annotations

from typing import Any

from cairn.algorithms.base import Algorithm
from cairn.algorithms.space import floats, ints

SPACE = {"max_features": floats(0.1, 1.0), "min_samples_leaf": ints(1, 20, log=True)}

# Deep trees grow a leaf for nearly every row, so a forest's size grows with the rows: on diamonds (43,000 rows)
# the extra trees took 1.1 GB, 11 s to fit, and most of the time to save, load and explain the model. A cap on
# the leaves bounds it whatever the rows (200 trees x 5,000 leaves: about 150 MB). Below 5,000 rows the trees
# keep their depth, but scikit-learn grows a capped tree best split first, so the same seed draws other (equally
# random) trees than before the cap. AutoGluon caps its forests at 15,000 leaves for the same reason. Extra trees
# alone on the bench's 80/20 split, uncapped -> capped: diamonds RMSE 511 -> 509 (1,124 -> 144 MB), insteval
# 1.459 -> 1.255, mplsstops AUC 0.872 -> 0.889, hotel_rates, txhousing and loans within 0.4% either way.
FOREST_LEAVES = 5_000


def random_forest_defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1, "max_leaf_nodes": FOREST_LEAVES}


def extra_trees_defaults(problem: str, *, trees: int, leaves: int) -> dict[str, Any]:
    return {"n_estimators": 200, "max_features": 0.7, "min_samples_leaf": 1, "max_leaf_nodes": FOREST_LEAVES}


def build_random_forest(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
                        native_categories: bool) -> Any:
    from cairn.estimators.forests import FastRandomForestClassifier, FastRandomForestRegressor

    cls = FastRandomForestRegressor if problem == "regression" else FastRandomForestClassifier
    return cls(**{**params, "random_state": seed, "n_jobs": n_jobs})


def build_extra_trees(problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
                      native_categories: bool) -> Any:
    from cairn.estimators.forests import FastExtraTreesClassifier, FastExtraTreesRegressor

    cls = FastExtraTreesRegressor if problem == "regression" else FastExtraTreesClassifier
    return cls(**{**params, "random_state": seed, "n_jobs": n_jobs})


RANDOM_FOREST = Algorithm(
    "random_forest", "random forest of deep trees", "high: averaged deep trees; low bias, variance held by averaging",
    needs_scaling=False, one_hot=False, defaults=random_forest_defaults, build=build_random_forest,
    space=SPACE, enough_trials=8,
)
EXTRA_TREES = Algorithm(
    "extra_trees", "extremely randomised trees",
    "high: averaged deep trees with random splits; lower variance than a forest", needs_scaling=False,
    one_hot=False, defaults=extra_trees_defaults, build=build_extra_trees, space=SPACE, enough_trials=8,
    default_list=True,
)

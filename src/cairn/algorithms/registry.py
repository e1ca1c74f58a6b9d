"""The registry: one record per family, in the order of `cairn.algorithms.names`.

Light still (no modelling library at import): each family imports its library inside its factory.
"""

from __future__ import annotations

from cairn.algorithms.base import Algorithm
from cairn.algorithms.catboost import CATBOOST
from cairn.algorithms.forests import EXTRA_TREES, RANDOM_FOREST
from cairn.algorithms.hist_gradient_boosting import HIST_GRADIENT_BOOSTING
from cairn.algorithms.knn import KNN
from cairn.algorithms.lightgbm import LIGHTGBM
from cairn.algorithms.linear import LINEAR
from cairn.algorithms.names import ALGORITHM_NAMES, NATIVE_CATEGORY_NAMES, SEED_VARIED_NAMES
from cairn.algorithms.space import Dimension
from cairn.algorithms.sparse_linear import SPARSE_LINEAR
from cairn.algorithms.trees import FIXED_TREES, MAX_TREES, leaves_for
from cairn.algorithms.xgboost import XGBOOST

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    LINEAR, LIGHTGBM, XGBOOST, CATBOOST, RANDOM_FOREST, EXTRA_TREES, HIST_GRADIENT_BOOSTING, KNN, SPARSE_LINEAR)}
if tuple(ALGORITHMS) != ALGORITHM_NAMES:
    raise ImportError(f"cairn.algorithms.names lists {ALGORITHM_NAMES}, the registry {tuple(ALGORITHMS)}")
if tuple(name for name, a in ALGORITHMS.items() if a.native_categories) != NATIVE_CATEGORY_NAMES:
    raise ImportError(f"cairn.algorithms.names lists {NATIVE_CATEGORY_NAMES} as learning categories natively")
if tuple(name for name, a in ALGORITHMS.items() if a.varies_with_seed) != SEED_VARIED_NAMES:
    raise ImportError(f"cairn.algorithms.names lists {SEED_VARIED_NAMES} as varying with their seed")
DEFAULT_NAMES: tuple[str, ...] = tuple(name for name, a in ALGORITHMS.items() if a.default_list)


def algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name}") from None


__all__ = ["ALGORITHMS", "ALGORITHM_NAMES", "DEFAULT_NAMES", "FIXED_TREES", "MAX_TREES", "Algorithm", "Dimension",
           "algorithm", "leaves_for"]

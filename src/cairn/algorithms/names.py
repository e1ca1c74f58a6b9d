"""The names of the model families, in the catalogue's order: all the project file's schema needs.

Kept apart from the registry so that the config depends on no family's code: the runner versions each stage by
the modules it imports, and every stage reads the config, so a registry imported here would rerun all ten stages
whenever one family's defaults changed. `cairn.algorithms.registry` checks that it lists exactly these families.
The order is the catalogue's: reports list families in it, and each family's tuning sampler is seeded by its
position (cairn.stages.training.tuning.sampler_seed), so a new family is only ever added at the end.
"""

from __future__ import annotations

ALGORITHM_NAMES: tuple[str, ...] = ("linear", "lightgbm", "xgboost", "catboost", "random_forest", "extra_trees",
                                    "hist_gradient_boosting", "knn", "sparse_linear")
NATIVE_CATEGORY_NAMES: tuple[str, ...] = ("lightgbm", "catboost")  # those that can learn categories natively
SEED_VARIED_NAMES: tuple[str, ...] = ("lightgbm", "xgboost", "catboost")  # whose fit varies with its seed

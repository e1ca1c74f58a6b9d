"""Every cairn class that may be pickled inside a fitted model, and nothing else.

A saved model names these classes by module path, so this package *is* part of the model format: a class moves
out of here only with an entry in `cairn.model.legacy` and a test that loads a model saved before the move.
Names are imported on first use, so loading a LightGBM model never imports CatBoost.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "EnsembleClassifier": "blends",
    "EnsembleRegressor": "blends",
    "aligned_proba": "blends",
    "CatBoostCodesClassifier": "catboost_codes",
    "CatBoostCodesRegressor": "catboost_codes",
    "DerivedColumns": "encoder",
    "TabularEncoder": "encoder",
    "FastExtraTreesClassifier": "forests",
    "FastExtraTreesRegressor": "forests",
    "FastRandomForestClassifier": "forests",
    "FastRandomForestRegressor": "forests",
    "EncodedLabels": "labels",
    "TabularPipeline": "native_categories",
    "TargetMeans": "target_means",
    "expm1_target": "target_transforms",
    "log1p_target": "target_transforms",
}
__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'cairn.estimators' has no attribute {name!r}")
    return getattr(import_module(f"cairn.estimators.{_MODULES[name]}"), name)

"""CatBoost learning the encoder's category codes as categories (its ordered target statistics), not as numbers.

CatBoost takes categories only as integers or text, and cairn's encoder hands every model one float matrix. These
subclasses turn the code columns into integers on the way in, at fit and at predict, so a fitted pipeline stays
one encoder and one model, and an unseen level (code -1) is one more category CatBoost has not seen. Which columns
are codes is read back from the fitted model, so it survives CatBoost's own pickling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostRegressor


def with_codes(X: Any, columns: list[int]) -> Any:
    """The matrix as a frame whose `columns` hold integers, or as it is when no column is a category."""
    if not columns:
        return X
    frame = pd.DataFrame(np.asarray(X, dtype="float64"))
    frame[columns] = frame[columns].fillna(-1).astype("int64")
    return frame


class _Codes:
    learns_codes_as_categories = True  # cairn.native_categories passes `cat_features` to fit

    def fit(self, X: Any, y: Any = None, cat_features: list[int] | None = None, eval_set: Any = None,
            **params: Any) -> Any:
        columns = list(cat_features or [])
        if isinstance(eval_set, tuple):
            eval_set = (with_codes(eval_set[0], columns), eval_set[1])
        elif eval_set is not None:
            eval_set = [(with_codes(features, columns), labels) for features, labels in eval_set]
        return super().fit(with_codes(X, columns), y, cat_features=columns or None,  # type: ignore[misc]
                           eval_set=eval_set, **params)

    def _coded(self, X: Any) -> Any:
        return with_codes(X, list(self.get_cat_feature_indices()))  # type: ignore[attr-defined]

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        return super().predict(self._coded(data), *args, **kwargs)  # type: ignore[misc]


class CatBoostCodesRegressor(_Codes, CatBoostRegressor):  # type: ignore[misc]  # untyped base class
    pass


class CatBoostCodesClassifier(_Codes, CatBoostClassifier):  # type: ignore[misc]  # untyped base class
    def predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        return super().predict_proba(self._coded(X), *args, **kwargs)

"""Classifiers that must be fitted on label codes 0..K-1 (XGBoost) but answer in the original labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted


class EncodedLabels(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # untyped base class
    """A classifier fitted on label codes 0..K-1 that answers in the original labels (XGBoost needs codes)."""

    def __init__(self, estimator: Any = None):
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> EncodedLabels:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if "eval_set" in fit_params:
            fit_params["eval_set"] = [(features, np.searchsorted(self.classes_, np.asarray(labels)))
                                      for features, labels in fit_params["eval_set"]]
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        labels: np.ndarray = self.classes_[np.asarray(self.estimator_.predict(X)).astype(int).ravel()]
        return labels

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        proba: np.ndarray = self.estimator_.predict_proba(X)
        return proba

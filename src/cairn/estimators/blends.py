"""The fitted blend of a greedy ensemble: one scikit-learn estimator averaging its members.

Regression averages predictions, classification class probabilities, so serving calls `predict` /
`predict_proba` on it like on any pipeline. Pickled inside fitted models: its module path is part of the format.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

COPY_MARK = "."  # a seed copy's member name: its member's, the mark and its fit's number (`lightgbm.2`)


def blended_models(names: list[str]) -> int:
    """How many distinct models a blend averages: its seed copies (`lightgbm.2`) are their member's."""
    return len({name.split(COPY_MARK)[0] for name in names})


def aligned_proba(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Probabilities in the order of `classes`; a class the model never saw gets zero."""
    model_classes = np.asarray(model_classes)
    if len(model_classes) == len(classes) and (model_classes == classes).all():
        return proba
    aligned = np.zeros((len(proba), len(classes)))
    where = {label: index for index, label in enumerate(classes.tolist())}
    for column, label in enumerate(model_classes.tolist()):
        aligned[:, where[label]] = proba[:, column]
    return aligned


class _WeightedAverage(BaseEstimator):  # type: ignore[misc]  # untyped base class
    def __init__(self, estimators: list[tuple[str, Any]] | None = None, weights: list[float] | None = None):
        self.estimators = estimators
        self.weights = weights

    def _checked_weights(self) -> np.ndarray:
        estimators = list(self.estimators or [])
        weights = np.asarray(self.weights if self.weights is not None else [1.0] * len(estimators), dtype=float)
        if not estimators or len(weights) != len(estimators) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"The estimators and weights parameters of {type(self).__name__} must be non-empty "
                             f"lists of equal length with non-negative weights. Got {len(estimators)} estimators "
                             f"and weights {weights.tolist()} instead.")
        return weights

    def _fit_members(self, X: Any, y: Any) -> None:
        weights = self._checked_weights()
        self.estimators_ = [clone(estimator).fit(X, y) for _, estimator in self.estimators or []]
        self.weights_ = weights / weights.sum()

    def _take_fitted(self, fitted: list[Any]) -> None:
        """Members already fitted (in the order of `estimators`, their unfitted recipes), as `fit` leaves them."""
        weights = self._checked_weights()
        if len(fitted) != len(weights):
            raise ValueError(f"{len(fitted)} fitted members for {len(weights)} estimators")
        self.estimators_ = list(fitted)
        self.weights_ = weights / weights.sum()


class EnsembleRegressor(RegressorMixin, _WeightedAverage):  # type: ignore[misc]  # untyped base class
    """The weighted mean of fitted regressors' predictions. X is whatever the members take (a DataFrame or a
    dict of column arrays for cairn's pipelines)."""

    def fit(self, X: Any, y: Any) -> EnsembleRegressor:
        self._fit_members(X, y)
        return self

    @classmethod
    def of_fitted(cls, estimators: list[tuple[str, Any]], fitted: list[Any], weights: list[float]
                  ) -> EnsembleRegressor:
        """The blend of members fitted elsewhere, without fitting them again; `estimators` stay their recipes,
        which a clone refits."""
        blend = cls(estimators=estimators, weights=weights)
        blend._take_fitted(fitted)
        return blend

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        predictions: np.ndarray = sum(w * np.asarray(e.predict(X), dtype="float64")
                                      for w, e in zip(self.weights_, self.estimators_, strict=True))
        return predictions


class EnsembleClassifier(ClassifierMixin, _WeightedAverage):  # type: ignore[misc]  # untyped base class
    """The weighted mean of fitted classifiers' class probabilities; the label is the most probable class."""

    def fit(self, X: Any, y: Any) -> EnsembleClassifier:
        self._fit_members(X, y)
        self.classes_ = np.unique(np.asarray(y))
        return self

    @classmethod
    def of_fitted(cls, estimators: list[tuple[str, Any]], fitted: list[Any], weights: list[float]
                  ) -> EnsembleClassifier:
        """The blend of members fitted elsewhere on the same rows, without fitting them again."""
        blend = cls(estimators=estimators, weights=weights)
        blend._take_fitted(fitted)
        blend.classes_ = np.unique(np.concatenate([np.asarray(member.classes_) for member in fitted]))
        return blend

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        proba: np.ndarray = sum(w * aligned_proba(np.asarray(e.predict_proba(X), dtype="float64"), e.classes_,
                                                  self.classes_)
                                for w, e in zip(self.weights_, self.estimators_, strict=True))
        return proba

    def predict(self, X: Any) -> np.ndarray:
        labels: np.ndarray = self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return labels

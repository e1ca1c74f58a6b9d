"""Greedy ensemble selection (Caruana et al., 2004) on out-of-fold predictions, and the estimator it becomes.

Starting from the best single model, each round adds (with replacement) the model whose addition scores best on
the out-of-fold predictions; the best blend seen wins. It is used only when it beats the best single model out
of fold. The fitted blend is one scikit-learn estimator averaging its members' predictions (regression) or
class probabilities (classification), so serving calls `predict`/`predict_proba` on it like on any pipeline.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from cairn.metrics import lower_is_better, needs_proba
from cairn.stages.crossval import CVResult, TrainingData, aligned_proba, score_outputs

ROUNDS = 25
POOL = 5  # the best models by CV that may join
MIN_WEIGHT = 0.1  # a lighter member costs a whole model's predict time per request for almost no accuracy


def greedy_weights(results: dict[str, CVResult], data: TrainingData, *, rounds: int = ROUNDS, pool: int = POOL
                   ) -> dict[str, float]:
    """Member -> weight (summing to 1), best first; a single member means no blend beat the best model."""
    metric = data.primary
    ranked = sorted(results, key=lambda n: results[n].primary_mean, reverse=not lower_is_better(metric))[:pool]
    outputs = {name: results[name].oof for name in ranked}
    if len(ranked) < 2 or any(o is None for o in outputs.values()):
        return {ranked[0]: 1.0} if ranked else {}
    counts: Counter[str] = Counter({ranked[0]: 1})
    average = np.array(outputs[ranked[0]], dtype="float64")
    best_score, best_counts = _fold_mean(average, data), Counter(counts)
    for _ in range(rounds):
        size = sum(counts.values())
        scored = [(_fold_mean(_blend(average, size, outputs[name]), data), name) for name in ranked]
        value, name = _pick(scored, metric)
        average = _blend(average, size, outputs[name])
        counts[name] += 1
        if _improves(value, best_score, metric):
            best_score, best_counts = value, Counter(counts)
    kept = {name: best_counts[name] for name in ranked if best_counts[name] / sum(best_counts.values()) >= MIN_WEIGHT}
    size = sum(kept.values())
    return {name: count / size for name, count in kept.items()}


def _blend(average: np.ndarray, size: int, added: np.ndarray) -> np.ndarray:
    """The running average of `size` members with one more."""
    return (average * size + added) / (size + 1)


def _pick(scored: list[tuple[float, str]], metric: str) -> tuple[float, str]:
    best = scored[0]
    for value, name in scored[1:]:
        if _improves(value, best[0], metric):
            best = (value, name)
    return best


def _improves(value: float, than: float, metric: str) -> bool:
    margin = 1e-12 * max(abs(than), 1.0)
    return value < than - margin if lower_is_better(metric) else value > than + margin


def _fold_mean(outputs: np.ndarray, data: TrainingData) -> float:
    """The primary metric averaged over folds, as the leaderboard averages it."""
    return float(np.mean([score_outputs(data.primary, data.y[valid], outputs[valid], data=data)
                          for _, valid in data.split.folds]))


def blended_result(results: dict[str, CVResult], weights: dict[str, float], data: TrainingData) -> CVResult:
    """The blend scored like a candidate: every metric per fold, train score, summed fit and predict times."""
    oof = sum(weights[n] * np.asarray(results[n].oof) for n in weights)
    per_fold: dict[str, list[float]] = {m: [] for m in data.metrics}
    train_scores = []
    for fold, (fit, valid) in enumerate(data.split.folds):
        for metric in data.metrics:
            if data.classes is None and needs_proba(metric):
                continue
            per_fold[metric].append(score_outputs(metric, data.y[valid], oof[valid], data=data))
        fitted = sum(weights[n] * results[n].fold_train_outputs[fold] for n in weights)
        train_scores.append(score_outputs(data.primary, data.y[fit], fitted, data=data))
    cv = {m: (float(np.mean(v)), float(np.std(v))) for m, v in per_fold.items() if v}
    return CVResult({"weights": dict(weights)}, cv, per_fold[data.primary], float(np.mean(train_scores)),
                    sum(results[n].fit_time_s for n in weights), sum(results[n].predict_ms_per_row for n in weights),
                    None, oof, [])


class _WeightedAverage(BaseEstimator):
    def __init__(self, estimators: list[tuple[str, Any]] | None = None, weights: list[float] | None = None):
        self.estimators = estimators
        self.weights = weights

    def _fit_members(self, X: Any, y: Any) -> None:  # noqa: N803 (scikit-learn's names)
        estimators = list(self.estimators or [])
        weights = np.asarray(self.weights if self.weights is not None else [1.0] * len(estimators), dtype=float)
        if not estimators or len(weights) != len(estimators) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"The estimators and weights parameters of {type(self).__name__} must be non-empty "
                             f"lists of equal length with non-negative weights. Got {len(estimators)} estimators "
                             f"and weights {weights.tolist()} instead.")
        self.estimators_ = [clone(estimator).fit(X, y) for _, estimator in estimators]
        self.weights_ = weights / weights.sum()


class EnsembleRegressor(RegressorMixin, _WeightedAverage):
    """The weighted mean of fitted regressors' predictions. X is whatever the members take (a DataFrame or a
    dict of column arrays for cairn's pipelines)."""

    def fit(self, X: Any, y: Any) -> EnsembleRegressor:  # noqa: N803
        self._fit_members(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "estimators_")
        return sum(w * np.asarray(e.predict(X), dtype="float64") for w, e in zip(self.weights_, self.estimators_,
                                                                                strict=True))


class EnsembleClassifier(ClassifierMixin, _WeightedAverage):
    """The weighted mean of fitted classifiers' class probabilities; the label is the most probable class."""

    def fit(self, X: Any, y: Any) -> EnsembleClassifier:  # noqa: N803
        self._fit_members(X, y)
        self.classes_ = np.unique(np.asarray(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "estimators_")
        return sum(w * aligned_proba(np.asarray(e.predict_proba(X), dtype="float64"), e.classes_, self.classes_)
                   for w, e in zip(self.weights_, self.estimators_, strict=True))

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

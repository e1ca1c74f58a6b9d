"""Greedy ensemble selection (Caruana et al., 2004) on out-of-fold predictions, and the estimator it becomes.

Every family that did well may join (`did_well`), not a fixed number of the best: different families err on
different rows, and that is what a blend gains from. Starting from the best single model, each round adds (with
replacement) the model whose addition scores best on the out-of-fold predictions; the best blend seen wins. It is
used only when it beats the best single model out of fold. The fitted blend is one scikit-learn estimator
averaging its members' predictions (regression) or class probabilities (classification), so serving calls
`predict`/`predict_proba` on it like on any pipeline.

No second-level stack: a linear stacker on the same out-of-fold predictions (non-negative least squares with an
intercept; logistic regression on log-odds), cross-fitted on the same folds, beat this blend on 2 of 8 bench sets
at one minute, by 0.2% at most, and lost on the other 6 by up to 37% (penguins' log loss) (`bench/stacking.py`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from cairn.metrics.scoring import error_of, lower_is_better, needs_proba
from cairn.stages.training.crossval import CVResult, TrainingData, score_outputs

ROUNDS = 25
# A family "did well" when its out-of-fold error is within this share of the best family's: on hmda (AUC) every
# family but kNN (error 0.27 against 0.18); on Ames (MAPE) lightgbm, linear and catboost, not kNN (12.2% against
# 8.7%). The greedy rounds then decide the weights; a family far behind only adds a chance to overfit the folds.
DID_WELL_MARGIN = 0.3
MIN_WEIGHT = 0.1  # a lighter member costs a whole model's predict time per request for almost no accuracy


def did_well(results: dict[str, CVResult], metric: str, *, margin: float = DID_WELL_MARGIN) -> list[str]:
    """The candidates whose error is within `margin` of the best one's, best first (ties keep their order)."""
    ranked = sorted(results, key=lambda n: results[n].primary_mean, reverse=not lower_is_better(metric))
    if not ranked:
        return []
    best = error_of(metric, results[ranked[0]].primary_mean)
    return [name for name in ranked if error_of(metric, results[name].primary_mean) <= best * (1 + margin)]


def greedy_weights(results: dict[str, CVResult], data: TrainingData, *, rounds: int = ROUNDS,
                   margin: float = DID_WELL_MARGIN) -> dict[str, float]:
    """Member -> weight (summing to 1), best first, drawn from every family that did well; a single member
    means no blend beat the best model."""
    metric = data.primary
    ranked = did_well(results, metric, margin=margin)
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
    if not kept:  # every member lighter than MIN_WEIGHT (more than ten near-equal ones): the best alone
        return {ranked[0]: 1.0}
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


"""Stage 8, evaluation: holdout metrics with bootstrap intervals, latency, explanations, and the business verdict.

The verdict is the point of the run: every success criterion and constraint checked on measured values.
A missed objective is a verdict, not an error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from cairn.config.schema import Evaluation
from cairn.metrics.resampled import resampled_scores
from cairn.metrics.scoring import needs_proba, score, shown
from cairn.model.trained import TrainedModel
from cairn.stages.business import BusinessCase
from cairn.stages.training.train import TrainingResult, predictions

IMPORTANCE_ROWS = 2_000
BOOTSTRAP_BLOCK_CELLS = 2_000_000  # row positions drawn at a time: 16 MB


@dataclass(frozen=True)
class MetricEstimate:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Check:
    name: str  # "MAPE < 10.0%"
    met: bool | None  # None: could not be measured
    text: str  # "met (holdout MAPE 8.4%, 95% CI 7.9-9.0%)"


@dataclass(frozen=True)
class EvaluationResult:
    holdout: list[MetricEstimate]
    predict_p50_ms: float
    predict_p99_ms: float
    importance: list[tuple[str, float]]
    checks: list[Check]
    confidence: float

    @property
    def shipped(self) -> bool:
        return all(check.met for check in self.checks)

    def metric(self, name: str) -> MetricEstimate:
        return next(m for m in self.holdout if m.name == name)


def evaluate(model: TrainedModel, holdout: pd.DataFrame, *, case: BusinessCase, training: TrainingResult,
             spec: Evaluation, seed: int) -> EvaluationResult:
    X, y = model.frame(holdout), holdout[case.target].to_numpy()
    predicted, proba = predictions(model.pipeline, X, problem=case.problem)
    classes = np.array(training.classes) if training.classes else None
    estimates = []
    for metric in case.reported_metrics:
        if needs_proba(metric) and proba is None:
            continue
        value = score(metric, y, predicted, proba, classes=classes)
        resamples = _resamples(len(y), count=spec.bootstrap, seed=seed)  # the same draws for every metric
        low, high = _bootstrap_interval(metric, y, predicted, proba, classes, resamples, spec.confidence)
        estimates.append(MetricEstimate(metric, value, low, high))
    p50, p99 = one_row_latency_ms(model, holdout, samples=spec.latency_samples)
    importance = _importance(model, X, y, case=case, seed=seed) if spec.explain == "permutation" else []
    result = EvaluationResult(estimates, p50, p99, importance, [], spec.confidence)
    checks = business_checks(result, case=case, training_s=training.duration_s)
    return EvaluationResult(estimates, p50, p99, importance, checks, spec.confidence)


def _resamples(rows: int, *, count: int, seed: int) -> Iterator[np.ndarray]:
    """`count` bootstrap draws of row positions, in blocks of about BOOTSTRAP_BLOCK_CELLS positions, so a large
    holdout never holds every draw in memory at once (1,000 draws of 65,000 rows would take 520 MB)."""
    rng = np.random.default_rng(seed)
    block = max(1, min(count, BOOTSTRAP_BLOCK_CELLS // max(rows, 1)))
    for start in range(0, count, block):
        yield rng.integers(0, rows, size=(min(block, count - start), rows))


def _bootstrap_interval(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                        classes: np.ndarray | None, resamples: Iterator[np.ndarray], confidence: float
                        ) -> tuple[float | None, float | None]:
    """The central `confidence` share of the metric over the resamples (a resample where it is undefined, such
    as AUC with one class, is left out)."""
    parts = []
    for block in resamples:
        scored = resampled_scores(metric, y, predicted, proba, classes, block)
        parts.append(scored if scored is not None else _one_at_a_time(metric, y, predicted, proba, classes, block))
    values = np.concatenate(parts) if parts else np.array([])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _one_at_a_time(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                   classes: np.ndarray | None, block: np.ndarray) -> np.ndarray:
    """The slow path (multiclass f1 and AUC): `score` on each resample; NaN where it is undefined."""
    scored = []
    for rows in block:
        try:
            scored.append(score(metric, y[rows], predicted[rows], None if proba is None else proba[rows],
                                classes=classes))
        except ValueError:  # a resample with one class has no AUC
            scored.append(np.nan)
    return np.array(scored, dtype="float64")


def one_row_latency_ms(model: TrainedModel, table: pd.DataFrame, *, samples: int) -> tuple[float, float]:
    """p50/p99 of one prediction from a JSON-like record, the way the API serves it (after a warm-up)."""
    records = table[model.feature_names].head(samples).to_dict(orient="records")
    for record in records[:5]:
        model.predict([record])
    timings = []
    for record in records:
        began = time.perf_counter()
        model.predict([record])
        timings.append((time.perf_counter() - began) * 1000)
    p50, p99 = np.percentile(timings, [50, 99])
    return float(p50), float(p99)


def _importance(model: TrainedModel, X: pd.DataFrame, y: np.ndarray, *, case: BusinessCase,
                seed: int) -> list[tuple[str, float]]:
    """Permutation importance on the holdout: what the model relies on, measured by the objective's own metric."""
    metric = case.primary_metric
    sign = -1.0 if metric in {"mape", "mae", "rmse", "rmsle", "log_loss"} else 1.0

    classes = np.array(model.classes) if model.classes else None

    def scorer(estimator: Any, features: pd.DataFrame, target: np.ndarray) -> float:
        # one pass of the model per permutation: probabilities or labels, whichever the metric reads
        if needs_proba(metric):
            proba = estimator.predict_proba(features)
            proba = proba[:, 1] if case.problem == "binary" else proba
            return sign * score(metric, target, proba, proba, classes=classes)
        return sign * score(metric, target, estimator.predict(features), None, classes=classes)

    if len(X) > IMPORTANCE_ROWS:  # the ranking settles long before the cost does
        rows = np.random.default_rng(seed).choice(len(X), IMPORTANCE_ROWS, replace=False)
        X, y = X.iloc[rows], y[rows]
    result = permutation_importance(model.pipeline, X, y, scoring=scorer, n_repeats=3, random_state=seed, n_jobs=1)
    ranked = sorted(zip(X.columns, result.importances_mean, strict=True), key=lambda pair: -pair[1])
    return [(str(name), float(value)) for name, value in ranked[:20]]


def business_checks(result: EvaluationResult, *, case: BusinessCase, training_s: float) -> list[Check]:
    checks = []
    percent = f"{result.confidence:.0%}"
    for criterion in case.success:
        estimate = result.metric(criterion.metric)
        met = criterion.is_met(estimate.value)
        interval = ""
        if estimate.ci_low is not None and estimate.ci_high is not None:
            low, high = shown(criterion.metric, estimate.ci_low), shown(criterion.metric, estimate.ci_high)
            interval = f", {percent} CI {low}-{high}"
        text = f"{'met' if met else 'missed'} (holdout {criterion.metric.upper()} " \
               f"{shown(criterion.metric, estimate.value)}{interval})"
        checks.append(Check(f"objective {criterion.text()}", met, text))
    limit = case.constraints.predict_p99_ms
    if limit:
        met = result.predict_p99_ms < limit
        checks.append(Check(f"predict p99 < {limit:g} ms", met,
                            f"{'met' if met else 'missed'} (p99 {result.predict_p99_ms:.1f} ms, "
                            f"p50 {result.predict_p50_ms:.1f} ms, one row in process)"))
    budget = case.constraints.train_budget_minutes
    if budget:
        met = training_s <= budget * 60
        checks.append(Check(f"training within {budget:g} min", met,
                            f"{'met' if met else 'missed'} (training took {training_s / 60:.1f} min)"))
    return checks


def verdict_line(result: EvaluationResult) -> str:
    """One line a person can act on: each check with its measured value."""
    parts = []
    for check in result.checks:
        parts.append(f"{check.name}: {check.text}")
    return "; ".join(parts) if parts else "no success criteria set (business.success is empty)"

"""Stage 8, evaluation: holdout metrics with bootstrap intervals, latency, explanations, and the business verdict.

The verdict is the point of the run: every success criterion and constraint checked on measured values.
A missed objective is a verdict, not an error.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from cairn.config.schema import Evaluation
from cairn.metrics.resampled import per_class_scores, resampled_scores
from cairn.metrics.scoring import draw_scores, lower_is_better, needs_proba, positive_last, score, shown
from cairn.model.compiled import label_of
from cairn.model.trained import TrainedModel
from cairn.stages.bounded_importance import importance_plan, permuted_importance, sample_rows
from cairn.stages.business import BusinessCase
from cairn.stages.comparison import ModelComparison, compare_best_two
from cairn.stages.diagnostics import Diagnostics, holdout_diagnostics
from cairn.stages.segments import Segment, worst_segments
from cairn.stages.shap_summary import ShapSummary, shap_summary
from cairn.stages.training.seed_copies import measured_alone
from cairn.stages.training.threshold import DecisionThreshold
from cairn.stages.training.train import TrainingResult, predictions

logger = logging.getLogger(__name__)

IMPORTANCE_ROWS = 2_000
BOOTSTRAP_BLOCK_CELLS = 2_000_000  # row positions drawn at a time: 16 MB
SLOW_BOOTSTRAP_S = 10.0
"""Seconds a metric scored one resample at a time (multiclass AUC) may take: 1,000 resamples of a 65,000-row
holdout would take minutes. The fast metrics are one matrix product and need no bound."""
MIN_SLOW_RESAMPLES = 100  # the least evaluation.bootstrap allows
# Training keeps its budget within a tenth both ways: a final fit cannot stop half-way, and the search plans its
# fit on every row to end no later than that (cairn.stages.training). The constraint is judged with the same margin:
# insteval's 61.7 s of a minute read "missed (training took 1.0 min)" and the model was not promoted.
BUDGET_TOLERANCE = 0.1


@dataclass(frozen=True)
class MetricEstimate:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ClassEstimate:
    """One class on the holdout: its precision, recall and F1 with bootstrap intervals, and its support (rows of
    the class in the holdout). A figure undefined on the holdout (recall of a class it lacks) is NaN."""

    label: Any
    support: int
    precision: MetricEstimate
    recall: MetricEstimate
    f1: MetricEstimate

    def to_dict(self) -> dict[str, Any]:
        def plain(estimate: MetricEstimate) -> dict[str, float | None]:
            return {key: None if value is None or math.isnan(value) else value
                    for key, value in (("value", estimate.value), ("ci_low", estimate.ci_low),
                                       ("ci_high", estimate.ci_high))}

        label = self.label.item() if isinstance(self.label, np.generic) else self.label
        return {"class": label, "support": self.support, "precision": plain(self.precision),
                "recall": plain(self.recall), "f1": plain(self.f1)}


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
    comparison: ModelComparison | None = None  # the chosen model against the leaderboard's second
    bounded: tuple[str, ...] = ()  # what was measured on a sample to fit the time (importance, bootstrap), in words
    threshold: DecisionThreshold | None = None  # binary: the decision threshold the holdout labels were given at
    diagnostics: Diagnostics | None = None  # ROC, precision-recall, calibration, confusion; residuals
    segments: list[Segment] = field(default_factory=list)  # where the model is worst, each with a .sentence
    notes: list[str] = field(default_factory=list)  # what could not be measured, and why
    shap_importance: list[tuple[str, float]] = field(default_factory=list)  # mean |SHAP| per input (holdout)
    shap_summary: ShapSummary | None = None  # the points of the report's summary and dependence plots
    # classification: precision, recall, F1 and support of each class (a plain default: results pickled before
    # it existed read as none)
    per_class: tuple[ClassEstimate, ...] = ()

    @property
    def shipped(self) -> bool:
        return all(check.met for check in self.checks)

    def metric(self, name: str) -> MetricEstimate:
        return next(m for m in self.holdout if m.name == name)


def evaluate(model: TrainedModel, holdout: pd.DataFrame, *, case: BusinessCase, training: TrainingResult,
             spec: Evaluation, seed: int) -> EvaluationResult:
    X, y = model.frame(holdout), holdout[case.target].to_numpy()
    predicted, proba = predictions(model.pipeline, X, problem=case.problem, positive=model.positive_class,
                                   threshold=model.threshold, calibration=model.calibration)
    classes = positive_last(np.array(training.classes), model.positive_class) if training.classes else None
    estimates, unmeasured = [], []
    for metric in case.reported_metrics:
        if needs_proba(metric) and proba is None:
            continue
        try:
            value = score(metric, y, predicted, proba, classes=classes)
        except ValueError:  # a class absent from the holdout: AUC and its kin are undefined
            unmeasured.append(metric)
            continue
        resamples = _resamples(len(y), count=spec.bootstrap, seed=seed)  # the same draws for every metric
        low, high = _bootstrap_interval(metric, y, predicted, proba, classes, resamples, spec.confidence)
        estimates.append(MetricEstimate(metric, value, low, high))
    per_class = () if classes is None else class_estimates(
        y, predicted, classes, _resamples(len(y), count=spec.bootstrap, seed=seed), spec.confidence)
    p50, p99 = one_row_latency_ms(model, holdout, samples=spec.latency_samples)
    importance, bounded = (_importance(model, X, y, case=case, seed=seed, budget_s=training.budget_s)
                           if spec.explain == "permutation" else ([], ()))
    result = EvaluationResult(estimates, p50, p99, importance, [], spec.confidence)
    checks = business_checks(result, case=case, training_s=training.duration_s)
    evaluated = EvaluationResult(estimates, p50, p99, importance, checks, spec.confidence, bounded=bounded,
                                 per_class=per_class)
    comparison = compare_best_two(training, X, y, best_pipeline=model.pipeline, problem=case.problem,
                                  metric=case.primary_metric, resamples=spec.bootstrap, confidence=spec.confidence,
                                  seed=seed)
    evaluated = with_diagnostics(evaluated, model, X, y, predicted, proba, case=case, training=training,
                                 unmeasured=unmeasured, seed=seed)
    return with_shap(replace(evaluated, comparison=comparison), model, holdout, seed=seed,
                     budget_s=training.budget_s)


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
    deadline = time.perf_counter() + SLOW_BOOTSTRAP_S
    for block in resamples:
        scored = resampled_scores(metric, y, predicted, proba, classes, block)
        if scored is None:
            drawn = sum(len(part) for part in parts)
            scored = _one_at_a_time(metric, y, predicted, proba, classes, block, deadline=deadline, drawn=drawn)
        parts.append(scored)
        if len(scored) < len(block):  # out of time: the interval is read from the resamples scored so far
            logger.info("bootstrap of %s stopped at %d resamples after %.0f s", metric,
                        sum(len(part) for part in parts), SLOW_BOOTSTRAP_S)
            break
    values = np.concatenate(parts) if parts else np.array([])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def class_estimates(y: np.ndarray, predicted: np.ndarray, classes: np.ndarray, resamples: Iterator[np.ndarray],
                    confidence: float) -> tuple[ClassEstimate, ...]:
    """Precision, recall and F1 of each class on the holdout, each with the central `confidence` share of its
    bootstrap resamples (one matrix product per block of resamples: cairn.metrics.resampled.per_class_scores)."""
    whole = per_class_scores(y, predicted, classes, np.arange(len(y))[None, :])
    drawn: dict[str, list[np.ndarray]] = {"precision": [], "recall": [], "f1": []}
    for block in resamples:
        scored = per_class_scores(y, predicted, classes, block)
        for name, parts in drawn.items():
            parts.append(scored[name])
    tail = (1 - confidence) / 2 * 100
    estimates = []
    for index, label in enumerate(np.asarray(classes).tolist()):
        figures = {}
        for name, parts in drawn.items():
            values = np.concatenate(parts)[:, index] if parts else np.array([])
            values = values[~np.isnan(values)]
            low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (None, None)
            figures[name] = MetricEstimate(name, float(whole[name][0, index]),
                                           None if low is None else float(low), None if high is None else float(high))
        estimates.append(ClassEstimate(label, int(whole["support"][0, index]), **figures))
    return tuple(estimates)


def _one_at_a_time(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                   classes: np.ndarray | None, block: np.ndarray, *, deadline: float = math.inf, drawn: int = 0
                   ) -> np.ndarray:
    """The slow path (multiclass AUC): `draw_scores` on each resample, stopping past `deadline` once
    MIN_SLOW_RESAMPLES are scored (counting the `drawn` before this block)."""
    return draw_scores(metric, y, predicted, proba, classes, block, deadline=deadline,
                       at_least=max(MIN_SLOW_RESAMPLES - drawn, 0))


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


def _importance(model: TrainedModel, X: pd.DataFrame, y: np.ndarray, *, case: BusinessCase, seed: int,
                budget_s: float) -> tuple[list[tuple[str, float]], tuple[str, ...]]:
    """Permutation importance on the holdout: what the model relies on, measured by the objective's own metric;
    on a table too wide for the time allowed, on the screened inputs only (cairn.stages.bounded_importance), and
    the note that says so."""
    metric = case.primary_metric
    sign = -1.0 if lower_is_better(metric) else 1.0
    own = np.asarray(model.classes) if model.classes else None
    pipeline, alone = measured_alone(model.pipeline)
    said = f"permutation importance measured {alone} (the same recipe at a fraction of the time)"
    said_copies = (said,) if alone else ()
    classes = positive_last(own, model.positive_class) if own is not None else None

    def scorer(estimator: Any, features: pd.DataFrame, target: np.ndarray) -> float:
        # one pass of the model per permutation; labels at the decision threshold, as the model answers
        if own is None:
            return sign * score(metric, target, estimator.predict(features), None)
        proba = np.asarray(estimator.predict_proba(features))
        if model.calibration is not None:
            proba = model.calibration.probabilities(proba, positive_column=model.positive_column)
        said = label_of(proba, own, threshold=model.threshold, positive=model.positive_class)
        if case.problem == "binary":
            proba = proba[:, model.positive_column]
        return sign * score(metric, target, said, proba, classes=classes)

    if len(X) > IMPORTANCE_ROWS:  # the ranking settles long before the cost does
        rows = sample_rows(y, IMPORTANCE_ROWS, np.random.default_rng(seed))
        X, y = X.iloc[rows], y[rows]

    def signal(features: pd.DataFrame) -> np.ndarray:
        return np.asarray(pipeline.predict_proba(features) if case.problem != "regression"
                          else pipeline.predict(features), dtype="float64")

    plan = importance_plan(pipeline, X, budget_s=budget_s, signal=signal)
    if plan.bounded(len(X.columns)):
        measured = permuted_importance(pipeline, X, y, scorer=scorer, plan=plan, seed=seed)
        ranked = sorted(measured, key=lambda pair: -pair[1])
        return [(name, value) for name, value in ranked[:20]], (plan.note(len(X.columns)), *said_copies)
    result = permutation_importance(pipeline, X, y, scoring=scorer, n_repeats=3, random_state=seed, n_jobs=1)
    ranked = sorted(zip(X.columns, result.importances_mean, strict=True), key=lambda pair: -pair[1])
    return [(str(name), float(value)) for name, value in ranked[:20]], said_copies


def business_checks(result: EvaluationResult, *, case: BusinessCase, training_s: float) -> list[Check]:
    checks = []
    percent = f"{result.confidence:.0%}"
    for criterion in case.success:
        if not any(m.name == criterion.metric for m in result.holdout):
            checks.append(Check(f"objective {criterion.text()}", None, f"not measured: {criterion.metric.upper()} "
                                "is undefined on this holdout (a class never appears in it)"))
            continue
        estimate = result.metric(criterion.metric)
        met = criterion.is_met(estimate.value)
        interval = ""
        if estimate.ci_low is not None and estimate.ci_high is not None:
            low, high = shown(criterion.metric, estimate.ci_low), shown(criterion.metric, estimate.ci_high)
            interval = f", {percent} CI {low}-{high}"
        text = f"{'met' if met else 'missed'} (holdout {criterion.metric.upper()} " \
               f"{shown(criterion.metric, estimate.value)}{interval})"
        text += straddle_text(criterion.metric, estimate, threshold=criterion.threshold, percent=percent)
        checks.append(Check(f"objective {criterion.text()}", met, text))
    limit = case.constraints.predict_p99_ms
    if limit:
        met = result.predict_p99_ms < limit
        checks.append(Check(f"predict p99 < {limit:g} ms", met,
                            f"{'met' if met else 'missed'} (p99 {result.predict_p99_ms:.1f} ms, "
                            f"p50 {result.predict_p50_ms:.1f} ms, one row in process)"))
    budget = case.constraints.train_budget_minutes
    if budget:
        met = training_s <= budget * 60 * (1 + BUDGET_TOLERANCE)
        late = (f", within the {BUDGET_TOLERANCE:.0%} a training budget allows"
                if met and training_s > budget * 60 else "")
        checks.append(Check(f"training within {budget:g} min", met,
                            f"{'met' if met else 'missed'} (training took {_duration(training_s)}{late})"))
    return checks


def _duration(seconds: float) -> str:
    """Seconds under two minutes ('61.7 s', which '1.0 min' hid), minutes above."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def straddle_text(metric: str, estimate: MetricEstimate, *, threshold: float, percent: str) -> str:
    """'; uncertain: ...' when the interval holds the threshold: met or missed by the point estimate only."""
    low, high = estimate.ci_low, estimate.ci_high
    if low is None or high is None or not low < threshold < high:
        return ""
    return (f"; uncertain: the {percent} CI {shown(metric, low)}-{shown(metric, high)} straddles "
            f"{shown(metric, threshold)}")


def verdict_line(result: EvaluationResult) -> str:
    """One line a person can act on: each check with its measured value."""
    parts = []
    for check in result.checks:
        parts.append(f"{check.name}: {check.text}")
    return "; ".join(parts) if parts else "no success criteria set (business.success is empty)"


def with_diagnostics(result: EvaluationResult, model: TrainedModel, X: pd.DataFrame, y: np.ndarray,
                     predicted: np.ndarray, proba: np.ndarray | None, *, case: BusinessCase,
                     training: TrainingResult, unmeasured: list[str], seed: int) -> EvaluationResult:
    """The threshold the labels were given at, the diagnostic curves, the worst segments and what could not be
    measured (cairn.stages.diagnostics, cairn.stages.segments)."""
    classes = positive_last(np.array(training.classes), model.positive_class) if training.classes else None
    diagnostics = holdout_diagnostics(y, predicted, proba, problem=case.problem, classes=training.classes,
                                      positive=model.positive_class, threshold=model.threshold, seed=seed)
    ranked = [name for name, _ in result.importance]
    segments = worst_segments(X, y, predicted, proba, metric=case.primary_metric, classes=classes,
                              features=model.features, ranked=ranked, confidence=result.confidence, seed=seed)
    notes = [f"{metric.upper()} not measured: undefined on this holdout (a class never appears in it)"
             for metric in unmeasured] + diagnostics.notes
    return replace(result, threshold=getattr(training, "threshold", None), diagnostics=diagnostics,
                   segments=segments, notes=notes)


def with_shap(result: EvaluationResult, model: TrainedModel, holdout: pd.DataFrame, *, seed: int,
              budget_s: float = math.inf) -> EvaluationResult:
    """Mean |SHAP| per input on a sample of the holdout, beside permutation importance (cairn.stages.shap_summary),
    in a time that scales with the training budget `budget_s`; when it cannot be measured (the `shap` extra
    missing for a family that needs it), a note says why."""
    pipeline, alone = measured_alone(model.pipeline)  # without its seed copies, as permutation importance is
    summary, note = shap_summary(replace(model, pipeline=pipeline), holdout, seed=seed, budget_s=budget_s)
    notes = [*result.notes, note] if note else result.notes
    if alone and summary is not None:
        notes = [*notes, f"SHAP measured {alone}"]
    if summary is None:
        return replace(result, notes=notes)
    return replace(result, shap_importance=summary.importance, shap_summary=summary, notes=notes)

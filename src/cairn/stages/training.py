"""Stage 7, training: a holdout no tuning sees, K-fold CV of every candidate, the best refit on the training split."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cairn.config.schema import Training
from cairn.metrics import lower_is_better, needs_proba, score
from cairn.model import as_model_frame
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan, build_deriver, build_encoder, expm1_target, log1p_target
from cairn.stages.selection import Candidate, make_estimator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateScore:
    model: str
    cv: dict[str, tuple[float, float]]  # metric -> (mean, sd) over folds
    train: float  # primary metric on the training folds, for bias-variance
    fit_time_s: float


@dataclass(frozen=True)
class TrainingResult:
    leaderboard: list[CandidateScore]  # best first
    chosen: str
    pipeline: Any  # fitted on the whole training split
    train_index: np.ndarray
    holdout_index: np.ndarray
    classes: list[Any] | None
    duration_s: float

    def notes(self, primary: str) -> list[str]:
        best = self.leaderboard[0]
        mean, sd = best.cv[primary]
        return [f"{len(self.leaderboard)} candidates compared by {len(self.train_index):,}-row cross-validation",
                f"chose {self.chosen}: CV {primary} {mean:.4g} ± {sd:.3g}",
                f"training took {self.duration_s:.1f} s"]


def build_pipeline(candidate: Candidate, plan: FeaturePlan, *, case: BusinessCase, seed: int, n_jobs: int,
                   n_rows: int) -> Any:
    """The whole path from a raw record to a prediction, as one scikit-learn estimator."""
    steps = [("encode", build_encoder(plan, scale=candidate.needs_scaling, one_hot=candidate.one_hot)),
             ("model", make_estimator(candidate, case=case, seed=seed, n_jobs=n_jobs, n_rows=n_rows))]
    deriver = build_deriver(plan)
    if deriver is not None:
        steps.insert(0, ("derive", deriver))
    pipeline = Pipeline(steps)
    if plan.target_transform == "log":
        return TransformedTargetRegressor(regressor=pipeline, func=log1p_target, inverse_func=expm1_target,
                                          check_inverse=False)
    return pipeline


def split_holdout(table: pd.DataFrame, *, case: BusinessCase, spec: Training, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(len(table))
    stratify = table[case.target] if case.problem != "regression" else None
    train, holdout = train_test_split(index, test_size=spec.holdout, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(holdout)


def train_models(table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, candidates: list[Candidate],
                 spec: Training, seed: int, on_progress: Callable[[str], None] | None = None) -> TrainingResult:
    started = time.perf_counter()
    train_index, holdout_index = split_holdout(table, case=case, spec=spec, seed=seed)
    features = as_model_frame(table, plan.features)
    X, y = features.iloc[train_index].reset_index(drop=True), table[case.target].to_numpy()[train_index]
    classes = sorted(pd.unique(y).tolist()) if case.problem != "regression" else None
    folds = (StratifiedKFold if classes else KFold)(n_splits=spec.cv, shuffle=True, random_state=seed)
    metrics = case.reported_metrics
    board: list[CandidateScore] = []
    with threadpool_limits(limits=spec.n_jobs):
        for candidate in candidates:
            if on_progress:
                on_progress(f"cross-validating {candidate.name}")
            board.append(_cross_validate(candidate, X, y, folds=folds, plan=plan, case=case, metrics=metrics,
                                         seed=seed, n_jobs=spec.n_jobs, classes=classes))
        reverse = not lower_is_better(case.primary_metric)
        board.sort(key=lambda s: s.cv[case.primary_metric][0], reverse=reverse)
        chosen = next(c for c in candidates if c.name == board[0].model)
        if on_progress:
            on_progress(f"refitting {chosen.name} on {len(X):,} rows")
        pipeline = build_pipeline(chosen, plan, case=case, seed=seed, n_jobs=spec.n_jobs, n_rows=len(X))
        pipeline.fit(X, y)
    return TrainingResult(board, chosen.name, pipeline, train_index, holdout_index, classes,
                          time.perf_counter() - started)


def predictions(pipeline: Any, X: pd.DataFrame, *, problem: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (or values) and, for classifiers, probabilities: of the positive class when binary."""
    predicted = pipeline.predict(X)
    if problem == "regression":
        return predicted, None
    proba = pipeline.predict_proba(X)
    return predicted, proba[:, 1] if problem == "binary" else proba


def _cross_validate(candidate: Candidate, X: pd.DataFrame, y: np.ndarray, *, folds: Any, plan: FeaturePlan,
                    case: BusinessCase, metrics: list[str], seed: int, n_jobs: int,
                    classes: list[Any] | None) -> CandidateScore:
    per_fold: dict[str, list[float]] = {m: [] for m in metrics}
    train_scores: list[float] = []
    fit_time = 0.0
    class_array = np.array(classes) if classes else None
    for fold_train, fold_valid in folds.split(X, y):
        pipeline = build_pipeline(candidate, plan, case=case, seed=seed, n_jobs=n_jobs, n_rows=len(fold_train))
        began = time.perf_counter()
        pipeline.fit(X.iloc[fold_train], y[fold_train])
        fit_time += time.perf_counter() - began
        predicted, proba = predictions(pipeline, X.iloc[fold_valid], problem=case.problem)
        for metric in metrics:
            if needs_proba(metric) and proba is None:
                continue
            per_fold[metric].append(score(metric, y[fold_valid], predicted, proba, classes=class_array))
        fitted, fitted_proba = predictions(pipeline, X.iloc[fold_train], problem=case.problem)
        train_scores.append(score(case.primary_metric, y[fold_train], fitted, fitted_proba, classes=class_array))
    cv = {m: (float(np.mean(v)), float(np.std(v))) for m, v in per_fold.items() if v}
    log.info("%s: CV %s %.4g", candidate.name, case.primary_metric, cv[case.primary_metric][0])
    return CandidateScore(candidate.name, cv, float(np.mean(train_scores)), fit_time / folds.get_n_splits())

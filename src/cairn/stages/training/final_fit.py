"""The final fit: the chosen model (or blend) with its preprocessing, as one scikit-learn estimator fitted on every
training row (or the searched ones: training.final_fit), and its predict latency."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor
from cairn.estimators.native_categories import TabularPipeline
from cairn.estimators.target_transforms import expm1_target, log1p_target
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan, build_deriver, build_encoder
from cairn.stages.selection import Candidate, make_estimator
from cairn.stages.training.context import Context
from cairn.stages.training.leaderboard import ENSEMBLE, Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

LATENCY_BATCH_ROWS = 1_000


def build_pipeline(candidate: Candidate, plan: FeaturePlan, *, case: BusinessCase, seed: int, n_jobs: int,
                   n_rows: int, params: dict[str, Any] | None = None) -> Any:
    """The whole path from a raw record to a prediction, as one scikit-learn estimator."""
    steps = [("encode", build_encoder(plan, scale=candidate.needs_scaling, one_hot=candidate.one_hot,
                                      target_means=candidate.target_means)),
             ("model", make_estimator(candidate, case=case, seed=seed, n_jobs=n_jobs, n_rows=n_rows, params=params))]
    deriver = build_deriver(plan)
    if deriver is not None:
        steps.insert(0, ("derive", deriver))
    pipeline = TabularPipeline(steps) if candidate.native_categories else Pipeline(steps)
    if plan.target_transform == "log":
        return TransformedTargetRegressor(regressor=pipeline, func=log1p_target, inverse_func=expm1_target,
                                          check_inverse=False)
    return pipeline


def final_fit(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> Any:
    """The leaderboard's first, fitted on the final fit's rows with the parameters the leaderboard shows."""
    members = board.members()
    X, y = final_fit_data(scope)
    ctx.progress(f"refitting {' + '.join(members)} on {len(y):,} rows")
    pipelines = [(name, member_pipeline(searched[name], scope, ctx, seed=ctx.seed)) for name in members]
    if board.chosen != ENSEMBLE:
        return pipelines[0][1].fit(X, y)
    blend = blend_class(ctx)(estimators=pipelines, weights=[board.blend[name] for name in members])
    return blend.fit(X, y)


def final_fit_data(scope: SearchScope) -> tuple[pd.DataFrame, Any]:
    """The rows the final fit learns from: every training row (the frame itself, not a copy: the final fit and its
    seed copies each read it), or those training.final_fit and the budget allow."""
    if not scope.fit_searched_rows:
        return scope.data.X, scope.data.y
    rows = scope.fit_rows()
    return scope.data.X.iloc[rows], scope.data.y[rows]


def member_pipeline(member: Searched, scope: SearchScope, ctx: Context, *, seed: int) -> Any:
    """One searched model's whole pipeline, unfitted, with the parameters it is refit with."""
    return build_pipeline(member.candidate, scope.plan, case=ctx.case, seed=seed, n_jobs=ctx.spec.n_jobs,
                          n_rows=scope.fit_row_count(), params=scope.refit_params(member.candidate, member.best))


def blend_class(ctx: Context) -> type[EnsembleRegressor] | type[EnsembleClassifier]:
    return EnsembleRegressor if ctx.case.problem == "regression" else EnsembleClassifier


def predict_ms_per_row(pipeline: Any, X: pd.DataFrame) -> float:
    """Milliseconds per row of the fitted pipeline on a batch of training rows."""
    batch = X.iloc[:LATENCY_BATCH_ROWS]
    began = time.perf_counter()
    pipeline.predict(batch)
    return (time.perf_counter() - began) * 1000 / max(len(batch), 1)

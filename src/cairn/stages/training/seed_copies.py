"""Seed copies: the chosen model's boosters fitted again with other seeds and their predictions averaged.

A booster that samples rows and columns as it fits (LightGBM, XGBoost, CatBoost: `Algorithm.varies_with_seed`) is
one draw of many equally good models; the mean of a few draws has less variance and scores better on new rows,
which is what the AutoML tools' bagging buys. It costs a final fit per copy and a slower prediction, so
`training.refit_seeds: auto` spends on it only the time the search left unused (less the runner-up's refit, which
comes after) and only while the one-row prediction stays within LATENCY_GROWTH times the model's without copies, or
within half of business.constraints.predict_p99_ms when the project sets one. It fits none when the budget confined
the final fit to fewer rows (more rows pay better than more seeds) or a recorded plan is replayed (a replay must not
depend on the clock). Auto's copies are fitted a round at a time (one more seed of every booster), each priced from
the round before, so the stage stays within its budget. A number in training.refit_seeds fits exactly that many,
whatever the clock says; the search and the steps before the copies keep their time (`copy_reserve`). The run's
remark gives the number to set to replay it.

The result is a blend (`EnsembleRegressor`/`EnsembleClassifier`) of every member and its copies, each copy weighted
its member's weight over the number of copies: serving, explanations, ONNX export and the refit on every row at
deployment read it as any blend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from cairn.model.compiled import compile_model
from cairn.stages.training.budget import TUNED_COST
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import final_fit_s
from cairn.stages.training.final_fit import blend_class, final_fit_data, member_pipeline
from cairn.stages.training.leaderboard import ENSEMBLE, Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.runner_up import refit_estimate_s
from cairn.stages.training.scope import SearchScope

MAX_COPIES = 5  # auto's most: the variance a mean of k draws removes shrinks as 1/k, the cost grows as k
LATENCY_GROWTH = 3.0  # auto keeps the one-row prediction within this many times the model's without copies
LATENCY_ROWS = 20  # one-row predictions timed to price a round's latency (their 90th percentile)
SAME_ROWS = 200  # rows compared to tell whether another seed gave another model at all
COPY_MARK = "."  # a copy's blend name: its member's, the mark and its fit's number (`lightgbm.2`)


@dataclass(frozen=True)
class SeedCopies:
    pipeline: Any  # the chosen model, or the blend of it and its copies
    count: int  # fits of each booster, the first included: 1 when no copy was fitted
    remarks: list[str]


@dataclass(frozen=True)
class _Members:
    """The chosen model as blend parts: names, unfitted recipes, fitted pipelines and weights, in one order."""

    names: list[str]
    recipes: list[Any]
    fitted: list[Any]
    weights: list[float]


def with_seed_copies(pipeline: Any, board: Leaderboard, searched: dict[str, Searched], scope: SearchScope,
                     ctx: Context) -> SeedCopies:
    """The fitted `pipeline` with as many seed copies of its boosters as training.refit_seeds asks or affords."""
    setting = ctx.spec.refit_seeds
    members = _members(pipeline, board, searched, scope, ctx)
    varied = [name for name in members.names if searched[name].candidate.algorithm.varies_with_seed]
    if setting == 1 or (setting == "auto" and (ctx.replay is not None or scope.confined_by_budget(ctx.spec))):
        return SeedCopies(pipeline, 1, [])
    if not varied:
        remarks = [] if setting == "auto" else [
            f"training.refit_seeds: {setting} had nothing to copy: the chosen model has no booster whose fit varies "
            f"with its seed (LightGBM, XGBoost, CatBoost)"]
        return SeedCopies(pipeline, 1, remarks)
    wanted = setting if isinstance(setting, int) else MAX_COPIES
    return _fit_copies(pipeline, members, varied, searched, scope, ctx, wanted=wanted, auto=setting == "auto",
                       board=board)


def _fit_copies(pipeline: Any, members: _Members, varied: list[str], searched: dict[str, Searched],
                scope: SearchScope, ctx: Context, *, wanted: int, auto: bool, board: Leaderboard) -> SeedCopies:
    """Rounds of one more seed per booster until `wanted` (auto: while time and latency allow)."""
    X, y = final_fit_data(scope)
    sample = X.iloc[: min(len(X), SAME_ROWS)]
    base_ms = one_row_ms(pipeline, X, problem=ctx.case.problem)
    limit_ms = (ctx.case.constraints.predict_p99_ms * 0.5 if ctx.case.constraints.predict_p99_ms
                else base_ms * LATENCY_GROWTH)
    round_s = final_fit_s(varied, searched, scope) * TUNED_COST
    reserve_s = refit_estimate_s(board, searched, scope, ctx)
    rounds: list[dict[str, Any]] = []  # per round: member name -> (recipe, fitted)
    current, latency_ms, why_stopped = pipeline, base_ms, ""
    began = time.perf_counter()
    for copy in range(1, wanted):
        left_s = ctx.seconds_to_stop() - reserve_s
        if auto and round_s > left_s:
            why_stopped = (f"another would have taken about {round_s:.1f} s of the {left_s:.1f} s left" if left_s > 0
                           else "the search used the time")
            break
        seed = ctx.seed + copy
        ctx.progress(f"refitting {' + '.join(varied)} with seed {seed} to average")
        fitted_at = time.perf_counter()
        one_round = {}
        for name in varied:
            recipe = member_pipeline(searched[name], scope, ctx, seed=seed)
            one_round[name] = (recipe, clone(recipe).fit(X, y))
        if copy == 1 and _same_predictions(one_round, members, sample, problem=ctx.case.problem):
            return SeedCopies(pipeline, 1, [
                f"no seed copies: {', '.join(varied)} fitted with seed {seed} predicted what seed {ctx.seed} did "
                f"(nothing it samples as it fits), so copies would add time and nothing else"])
        candidate = _assemble(members, [*rounds, one_round], ctx)
        candidate_ms = one_row_ms(candidate, X, problem=ctx.case.problem)
        round_s = time.perf_counter() - fitted_at  # the fits, the blend and its timing: what the next round costs
        if auto and candidate_ms > limit_ms:
            why_stopped = (f"another would have taken the one-row prediction to {candidate_ms:.2f} ms, past "
                           f"{limit_ms:.2f} ms ({_latency_bound(ctx)})")
            break
        rounds.append(one_round)
        current, latency_ms = candidate, candidate_ms
        if auto and candidate_ms + (candidate_ms - base_ms) / copy > limit_ms:
            why_stopped = (f"another would take the one-row prediction past {limit_ms:.2f} ms "
                           f"({_latency_bound(ctx)})")
            break
    count = len(rounds) + 1
    if count == 1:
        return SeedCopies(pipeline, 1, [f"no seed copies of {', '.join(varied)}: {why_stopped}"] if why_stopped
                          else [])
    seeds = f"{ctx.seed}-{ctx.seed + count - 1}"
    spent = f"in {time.perf_counter() - began:.1f} s the search left unused" if auto else "(training.refit_seeds)"
    remark = (f"each booster of the chosen model ({', '.join(varied)}) was fitted with {count} seeds ({seeds}) and "
              f"its predictions averaged, {spent}; one-row prediction {base_ms:.2f} -> {latency_ms:.2f} ms")
    if why_stopped and count < wanted:
        remark += f"; no more: {why_stopped}"
    remark += f"; to replay this run with training.tuning.plan, also set training.refit_seeds: {count}"
    return SeedCopies(current, count, [remark])


def _members(pipeline: Any, board: Leaderboard, searched: dict[str, Searched], scope: SearchScope,
             ctx: Context) -> _Members:
    if board.chosen != ENSEMBLE:
        recipe = member_pipeline(searched[board.chosen], scope, ctx, seed=ctx.seed)
        return _Members([board.chosen], [recipe], [pipeline], [1.0])
    return _Members([name for name, _ in pipeline.estimators], [recipe for _, recipe in pipeline.estimators],
                    list(pipeline.estimators_), [float(w) for w in pipeline.weights_])


def runs_seed_only(pipeline: Any) -> Any:
    """The model without its seed copies (blend members named `lightgbm.2`, ...): each member fitted with the
    run's seed at the weight it and its copies share, or the one member itself; any other model as it is. The same
    recipe for a k-th of the cost: what evaluation's permutation importance and SHAP summary measure."""
    estimators = getattr(pipeline, "estimators", None) or []
    if not any(COPY_MARK in name for name, _ in estimators):
        return pipeline
    kept = [index for index, (name, _) in enumerate(estimators) if COPY_MARK not in name]
    weights = [sum(float(weight) for (other, _), weight in zip(estimators, pipeline.weights_, strict=True)
                   if other.split(COPY_MARK)[0] == estimators[index][0]) for index in kept]
    if len(kept) == 1:
        return pipeline.estimators_[kept[0]]
    return type(pipeline).of_fitted([estimators[i] for i in kept], [pipeline.estimators_[i] for i in kept], weights)


def copies_in(pipeline: Any) -> int:
    """How many seed copies a model holds (0 for any model without)."""
    return sum(COPY_MARK in name for name, _ in getattr(pipeline, "estimators", None) or [])


def measured_alone(pipeline: Any) -> tuple[Any, str]:
    """The model without its seed copies (`runs_seed_only`), and how a measurement on it is said ("" when it had
    none): evaluation's importance and SHAP read the same recipe at a fraction of the time."""
    copies = copies_in(pipeline)
    said = f"on the run's seed alone, without the {copies} seed cop{'ies' if copies > 1 else 'y'}" if copies else ""
    return runs_seed_only(pipeline), said


def _assemble(members: _Members, rounds: list[dict[str, Any]], ctx: Context) -> Any:
    """One blend of every member and its copies; a member's weight is shared evenly among its fits."""
    estimators, fitted, weights = [], [], []
    for name, recipe, model, weight in zip(members.names, members.recipes, members.fitted, members.weights,
                                           strict=True):
        copies = [one_round[name] for one_round in rounds if name in one_round]
        share = weight / (len(copies) + 1)
        estimators.append((name, recipe))
        fitted.append(model)
        weights.append(share)
        for number, (copy_recipe, copy_model) in enumerate(copies, start=2):
            estimators.append((f"{name}{COPY_MARK}{number}", copy_recipe))
            fitted.append(copy_model)
            weights.append(share)
    return blend_class(ctx).of_fitted(estimators, fitted, weights)


def one_row_ms(model: Any, X: pd.DataFrame, *, problem: str) -> float:
    """The 90th percentile of LATENCY_ROWS one-row answers on the serving path (column arrays through the compiled
    model, as `TrainedModel.answer` gives them), in milliseconds: what a copy adds to serving. The problem, not
    the model, says whether it answers probabilities (a fitted CatBoost regressor has an empty `classes_`)."""
    classes = None if problem == "regression" else np.asarray(model.classes_)
    answer = compile_model(model, classes=classes)
    head = X.iloc[:LATENCY_ROWS]
    columns = {column: head[column].to_numpy() for column in head.columns}
    rows = [{column: values[position:position + 1] for column, values in columns.items()}
            for position in range(len(head))]
    answer(rows[0])  # warm-up
    times = []
    for row in rows:
        began = time.perf_counter()
        answer(row)
        times.append((time.perf_counter() - began) * 1000)
    return float(np.percentile(times, 90))


def _same_predictions(one_round: dict[str, Any], members: _Members, sample: pd.DataFrame, *, problem: str) -> bool:
    """Every copy predicts exactly what its member does: the seed changes nothing in how they fit."""
    predict = "predict" if problem == "regression" else "predict_proba"
    for name, (_, copy) in one_round.items():
        original = members.fitted[members.names.index(name)]
        if not np.array_equal(np.asarray(getattr(copy, predict)(sample), dtype=float),
                              np.asarray(getattr(original, predict)(sample), dtype=float)):
            return False
    return True


def _latency_bound(ctx: Context) -> str:
    if ctx.case.constraints.predict_p99_ms:
        return f"half of business.constraints.predict_p99_ms: {ctx.case.constraints.predict_p99_ms:g}"
    return f"{LATENCY_GROWTH:g}x the model's without copies"

"""Seed copies: the chosen model's boosters fitted again with other seeds and their predictions averaged.

A booster that samples rows and columns as it fits (LightGBM, XGBoost, CatBoost: `Algorithm.varies_with_seed`) is
one draw of many equally good models; the mean of a few draws has less variance and scores better on new rows,
which is what the AutoML tools' bagging buys. It costs a final fit per copy and a slower prediction, so
`training.refit_seeds: auto` spends on it only the time the search left unused (less the runner-up's refit, which
comes after) and only while the one-row prediction stays within LATENCY_GROWTH times the model's without copies, or
within half of business.constraints.predict_p99_ms when the project sets one. It fits none when the budget confined
the final fit to fewer rows (more rows pay better than more seeds) or a recorded plan is replayed (a replay must not
depend on the clock). Auto's copies are fitted a round at a time (one more seed of every booster), each booster
priced from its fit the round before, so the stage stays within its budget; when the time left does not afford a
whole round, the round copies the boosters it does afford, the heaviest in the blend first (a blend's slow CatBoost
need not leave its quick LightGBM uncopied and the time idle). A number in training.refit_seeds fits each booster
exactly that many times whatever the clock says, a mapping ({lightgbm: 3}) the members it names; the search and the
steps before the copies keep their time (`copy_reserve`). The run's remark gives the setting that replays it.

The result is a blend (`EnsembleRegressor`/`EnsembleClassifier`) of every member and its copies, each copy weighted
its member's weight over the number of copies: serving, explanations, ONNX export and the refit on every row at
deployment read it as any blend.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from cairn.estimators.blends import COPY_MARK
from cairn.model.compiled import compile_model
from cairn.stages.training.budget import TUNED_COST
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import final_fit_s, fits_asked
from cairn.stages.training.final_fit import blend_class, final_fit_data, member_pipeline
from cairn.stages.training.leaderboard import ENSEMBLE, Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.runner_up import refit_estimate_s
from cairn.stages.training.scope import SearchScope

MAX_COPIES = 5  # auto's most: the variance a mean of k draws removes shrinks as 1/k, the cost grows as k
LATENCY_GROWTH = 3.0  # auto keeps the one-row prediction within this many times the model's without copies
LATENCY_ROWS = 20  # one-row predictions timed to price a round's latency (their 90th percentile)
SAME_ROWS = 200  # rows compared to tell whether another seed gave another model at all


@dataclass(frozen=True)
class SeedCopies:
    pipeline: Any  # the chosen model, or the blend of it and its copies
    fits: dict[str, int] = field(default_factory=dict)  # each booster's fits, the first included (none: 1)
    remarks: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """The most fits of any booster: 1 when no copy was fitted."""
        return max(self.fits.values(), default=1)

    @property
    def seeds_said(self) -> str:
        """How many seeds the served model averages, in words ("3 seeds", "up to 3 seeds" when uneven)."""
        return f"{'' if _even(self.fits) else 'up to '}{self.count} seeds"


@dataclass(frozen=True)
class _Members:
    """The chosen model as blend parts: names, unfitted recipes, fitted pipelines and weights, in one order."""

    names: list[str]
    recipes: list[Any]
    fitted: list[Any]
    weights: list[float]

    def weight(self, name: str) -> float:
        """A member's weight in the blend (1 for a model alone)."""
        return self.weights[self.names.index(name)]


def with_seed_copies(pipeline: Any, board: Leaderboard, searched: dict[str, Searched], scope: SearchScope,
                     ctx: Context) -> SeedCopies:
    """The fitted `pipeline` with as many seed copies of its boosters as training.refit_seeds asks or affords."""
    setting = ctx.spec.refit_seeds
    members = _members(pipeline, board, searched, scope, ctx)
    varied = [name for name in members.names if searched[name].candidate.algorithm.varies_with_seed]
    if setting == 1 or (setting == "auto" and (ctx.replay is not None or scope.confined_by_budget(ctx.spec))):
        return SeedCopies(pipeline)
    auto = setting == "auto"
    remarks = _not_held(setting, varied) if isinstance(setting, Mapping) else []
    wanted = {name: MAX_COPIES if auto else fits_asked(setting, name) for name in varied}
    if not any(count > 1 for count in wanted.values()):
        if isinstance(setting, int):
            remarks = [f"training.refit_seeds: {setting} had nothing to copy: the chosen model has no booster whose "
                       f"fit varies with its seed (LightGBM, XGBoost, CatBoost)"]
        return SeedCopies(pipeline, remarks=remarks)
    copies = _fit_copies(pipeline, members, wanted, searched, scope, ctx, auto=auto, board=board)
    return replace(copies, remarks=[*remarks, *copies.remarks])


def _not_held(setting: Mapping[str, int], varied: list[str]) -> list[str]:
    """A word for the members training.refit_seeds names that are no booster of the chosen model."""
    absent = [name for name in setting if name not in varied]
    if not absent:
        return []
    held = ", ".join(varied) if varied else "none"
    one = len(absent) == 1
    return [f"training.refit_seeds names {', '.join(absent)}, {'which is' if one else 'which are'} no booster of the "
            f"chosen model whose fit varies with its seed (its boosters: {held}): nothing was copied for "
            f"{'it' if one else 'them'}"]


def _fit_copies(pipeline: Any, members: _Members, wanted: dict[str, int], searched: dict[str, Searched],
                scope: SearchScope, ctx: Context, *, auto: bool, board: Leaderboard) -> SeedCopies:
    """Rounds of one more seed per booster until each has the fits `wanted` (auto: while time and latency allow,
    each round the boosters whose fits the time left affords, the heaviest in the blend first; one a round left
    out is copied no further, so each booster's fits have the seeds after the run's, in order, as a replay of
    its setting fits them)."""
    X, y = final_fit_data(scope)
    sample = X.iloc[: min(len(X), SAME_ROWS)]
    base_ms = one_row_ms(pipeline, X, problem=ctx.case.problem)
    limit_ms = (ctx.case.constraints.predict_p99_ms * 0.5 if ctx.case.constraints.predict_p99_ms
                else base_ms * LATENCY_GROWTH)
    cost_s = {name: final_fit_s([name], searched, scope) * TUNED_COST for name in wanted}  # then as measured
    overhead_s = 0.0  # the blend and its timing, after the fits: measured by the first round
    reserve_s = refit_estimate_s(board, searched, scope, ctx)
    rounds: list[dict[str, Any]] = []  # per round: member name -> (recipe, fitted)
    current, latency_ms, why_stopped = pipeline, base_ms, ""
    left_out: dict[str, str] = {}  # booster -> its price, when a round could not afford it
    began = time.perf_counter()
    for copy in range(1, max(wanted.values())):
        due = [name for name in wanted if wanted[name] > copy and name not in left_out]
        if not due:
            break
        if auto:
            left_s = ctx.seconds_to_stop() - reserve_s
            affordable = _affordable(due, cost_s, overhead_s, left_s, members)
            if not affordable:
                cheapest_s = min(cost_s[name] for name in due) + overhead_s
                why_stopped = (f"another would have taken about {cheapest_s:.1f} s of the {left_s:.1f} s left"
                               if left_s > 0 else "the search used the time")
                break
            left_out |= {name: f"{name} (about {cost_s[name]:.1f} s a fit, {left_s:.1f} s left)"
                         for name in due if name not in affordable}
            due = affordable
        seed = ctx.seed + copy
        ctx.progress(f"refitting {' + '.join(due)} with seed {seed} to average")
        one_round = {}
        for name in due:
            fitted_at = time.perf_counter()
            recipe = member_pipeline(searched[name], scope, ctx, seed=seed)
            one_round[name] = (recipe, clone(recipe).fit(X, y))
            cost_s[name] = time.perf_counter() - fitted_at  # what the next copy of it costs
        if copy == 1 and _same_predictions(one_round, members, sample, problem=ctx.case.problem):
            return SeedCopies(pipeline, remarks=[
                f"no seed copies: {', '.join(due)} fitted with seed {seed} predicted what seed {ctx.seed} did "
                f"(nothing it samples as it fits), so copies would add time and nothing else"])
        assembled_at = time.perf_counter()
        candidate = _assemble(members, [*rounds, one_round], ctx)
        candidate_ms = one_row_ms(candidate, X, problem=ctx.case.problem)
        overhead_s = time.perf_counter() - assembled_at
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
    fits = {name: 1 + sum(name in one_round for one_round in rounds) for name in wanted}
    copied = {name: count for name, count in fits.items() if count > 1}
    if not copied:
        return SeedCopies(pipeline, remarks=[f"no seed copies of {', '.join(wanted)}: {why_stopped}"]
                          if why_stopped else [])
    spent = f"in {time.perf_counter() - began:.1f} s the search left unused" if auto else "(training.refit_seeds)"
    boosters = list(wanted)
    remark = (f"{_fitted_text(copied, boosters, ctx.seed, spent)}; one-row prediction {base_ms:.2f} -> "
              f"{latency_ms:.2f} ms")
    if left_out:
        remark += f"; {', '.join(left_out.values())} copied no further"
    if why_stopped and any(count < wanted[name] for name, count in copied.items()):
        remark += f"; no more: {why_stopped}"
    remark += (f"; to replay this run with training.tuning.plan, also set training.refit_seeds: "
               f"{_setting(copied, boosters)}")
    return SeedCopies(current, fits, [remark])


def _affordable(due: list[str], cost_s: dict[str, float], overhead_s: float, left_s: float,
                members: _Members) -> list[str]:
    """The boosters whose next fits, with the blend's timing, end within `left_s`: the heaviest in the blend
    first (its seed's variance weighs most in the blend's), then any lighter one the time still affords."""
    chosen, total_s = [], overhead_s
    for name in sorted(due, key=lambda name: -members.weight(name)):
        if total_s + cost_s[name] <= left_s:
            chosen.append(name)
            total_s += cost_s[name]
    return [name for name in due if name in chosen]  # in the blend's order


def _even(fits: dict[str, int]) -> int | None:
    """The one count of fits every booster has, or None when they differ."""
    counts = set(fits.values())
    return counts.pop() if len(counts) == 1 else None


def _fitted_text(copied: dict[str, int], boosters: list[str], seed: int, spent: str) -> str:
    """What was fitted: one sentence for every booster alike, else each booster's seeds."""
    count = _even(copied) if len(copied) == len(boosters) else None
    if count is not None:
        return (f"each booster of the chosen model ({', '.join(boosters)}) was fitted with {count} seeds "
                f"({seed}-{seed + count - 1}) and its predictions averaged, {spent}")
    each = ", ".join(f"{name} with {count} seeds ({seed}-{seed + count - 1})" for name, count in copied.items())
    return f"the chosen model's boosters were fitted again, {each}, and the predictions averaged, {spent}"


def _setting(copied: dict[str, int], boosters: list[str]) -> str:
    """training.refit_seeds as the project file writes it to fit these copies again: members in the run's order."""
    count = _even(copied) if len(copied) == len(boosters) else None
    if count is not None:
        return str(count)
    return "{" + ", ".join(f"{name}: {count}" for name, count in copied.items()) + "}"


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

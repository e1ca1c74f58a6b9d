"""Stage 7, training: a holdout no tuning sees, a budgeted and seeded search per candidate, an ensemble when it
helps, and the winner refit on the whole training split as one estimator with its preprocessing.

The order, one step (and one sibling module) each: split (`scope`); time a short fit per candidate and drop those
that cannot finish cross-validation within the budget (`pool`); cross-validate every candidate's defaults, turn
what is left of the budget into a plan of trials, run it (Optuna TPE, pruned on early folds) and top it up
(`rounds`); rank, blending the best models greedily if that beats the best one out of fold (`leaderboard`), with
training.blend_trials the families' next best trials among them when the time left fits them (`trial_members`);
when the budget confines the final fit, maybe judge a cheaper model the time left fits on more rows
(`rows_or_model`), or a cheaper one when the chosen one's fit would end well past the budget (`in_time`); draw
learning curves of the best two (`curves`); refit (`final_fit`), on as many rows as the time left affords when
the budget could not pay for every one (`final_rows`); average its boosters over a few seeds with the time left
unused, or as many as training.refit_seeds says in time the search kept for them (`seed_copies`,
`copy_reserve`). Each step returns a new value and changes none it was given.
`training.tuning.plan` replays a recorded plan exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cairn.config.schema import FeatureSelection, Training
from cairn.execution.engine import FoldEngine
from cairn.metrics.scoring import shown
from cairn.model.calibration import Calibration
from cairn.model.compiled import label_of
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan
from cairn.stages.selection import CATALOGUE, Candidate
from cairn.stages.training.budget import TUNED_COST, duration, training_budget
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import fit_and_copies_s
from cairn.stages.training.curves import LearningCurve, learning_curves
from cairn.stages.training.final_fit import build_pipeline, final_fit, predict_ms_per_row
from cairn.stages.training.final_rows import final_rows
from cairn.stages.training.importance import select_features
from cairn.stages.training.in_time import in_time
from cairn.stages.training.leaderboard import ENSEMBLE, CandidateScore, Leaderboard, refit_for
from cairn.stages.training.pool import Pool, competing
from cairn.stages.training.rounds import Tuned, search_candidates
from cairn.stages.training.rows_or_model import rows_or_model
from cairn.stages.training.runner_up import RunnerUp, fit_runner_up
from cairn.stages.training.scope import SearchScope, narrowed, search_scope
from cairn.stages.training.seed_copies import SeedCopies, with_seed_copies
from cairn.stages.training.threshold import ClassDecision, DecisionThreshold, class_decision
from cairn.stages.training.trial_members import ranked_with_trials
from cairn.stages.training.tuning import quiet_optuna, sampler_seed

__all__ = ["ENSEMBLE", "CandidateScore", "LearningCurve", "TrainingResult", "build_pipeline", "peak_memory_mb",
           "predictions", "train_models"]


@dataclass(frozen=True)
class TrainingResult:
    leaderboard: list[CandidateScore]  # best first
    chosen: str
    pipeline: Any  # fitted on the whole training split
    train_index: np.ndarray
    holdout_index: np.ndarray
    classes: list[Any] | None
    duration_s: float
    split: str = ""  # how rows were split, in words
    budget_s: float = math.nan
    budget_source: str = ""  # business.constraints.train_budget_minutes | training.budget_minutes | default
    plan: dict[str, int] = field(default_factory=dict)  # trials run per candidate: training.tuning.plan replays it
    planned: dict[str, int] = field(default_factory=dict)  # the first plan: top-up rounds add, a safety stop cuts
    replayed: bool = False  # the plan came from training.tuning.plan
    seeds: dict[str, int] = field(default_factory=dict)
    estimates_s: dict[str, float] = field(default_factory=dict)  # estimated seconds of one CV, before tuning
    dropped: dict[str, str] = field(default_factory=dict)  # candidate -> why it did not compete
    ensemble_weights: dict[str, float] = field(default_factory=dict)  # members of the chosen blend, if any
    learning_curves: list[LearningCurve] = field(default_factory=list)
    predict_ms_per_row: float = math.nan  # the chosen pipeline on a batch of training rows
    peak_memory_mb: float = math.nan  # the process's peak resident memory at the end of the stage
    memory_growth_mb: float = math.nan  # how much this stage raised that peak
    safety_stop: str | None = None
    remarks: list[str] = field(default_factory=list)
    features: list[str] | None = None  # the inputs the pipeline reads, when features.select dropped some
    search_rows: int = 0  # training rows the cross-validation used (training.search_rows may sample)
    runner_up: RunnerUp | None = None  # the leaderboard's second, maybe refit: the holdout's paired comparison
    positive_class: Any = None  # binary: business.positive_class, or the minority class
    threshold: DecisionThreshold | None = None  # binary: tuned on the chosen model's out-of-fold probabilities
    calibration: Calibration | None = None  # applied to its probabilities when it improved them out of fold
    # the judged model was fitted on the searched rows only, because a fit on every row would not finish in the
    # budget (or the project asked for it): deployment does not refit on every row (getattr: older cached results)
    fitted_searched_rows: bool = False
    validation_folds: int = 0  # folds the search scored on: 1 with training.validation one_fold (0: older results)
    refit_seeds: int = 1  # fits of each booster of the chosen model, averaged (training.refit_seeds; `seed_copies`)

    @property
    def one_fold(self) -> bool:
        """The search scored on one validation fold (training.validation): no spread, no fold test."""
        return self.validation_folds == 1

    def notes(self, primary: str) -> list[str]:
        best = self.leaderboard[0]
        mean, sd = best.cv[primary]
        lines = [self.split] if self.split else []
        plan = ", ".join(f"{name} {count}" for name, count in self.plan.items())
        origin = "replayed from training.tuning.plan" if self.replayed else "planned from measured fit times"
        lines.append(f"budget {self.budget_s / 60:g} min ({self.budget_source}); trials {origin}: {plan}")
        lines += [f"dropped {name}: {why}" for name, why in self.dropped.items()]
        if self.safety_stop:
            lines.append(f"safety stop: {self.safety_stop}")
        count = len(self.leaderboard)
        one_fold = self.one_fold
        compared = (f"on one validation fold of the {self.search_rows:,} searched rows" if one_fold else
                    f"by {self.search_rows:,}-row cross-validation")
        lines.append(f"{count} candidate{'s' if count != 1 else ''} compared {compared}")
        scored = "validation" if one_fold else "CV"

        def score(mean: float, sd: float) -> str:  # one fold has no spread to show
            return shown(primary, mean) if one_fold else f"{shown(primary, mean)} ± {shown(primary, sd)}"

        for row in self.leaderboard:
            row_mean, row_sd = row.cv[primary]
            detail = (f"{row.model}: {scored} {primary} {score(row_mean, row_sd)}, train "
                      f"{shown(primary, row.train)}, fit {row.fit_time_s:.2f} s/fold, predict "
                      f"{row.predict_ms_per_row:.3f} ms/row")
            if row.model != ENSEMBLE:
                detail += f", {row.trials} trial{'s' if row.trials != 1 else ''} ({row.pruned} pruned)"
            if row.best_iteration:
                detail += f", {row.best_iteration} trees by early stopping"
                refit = row.params.get(CATALOGUE[row.model].trees_param or "")
                if refit and refit != row.best_iteration:
                    detail += f" ({refit} in the final fit, on more rows)"
            lines.append(detail)
        chosen = f"chose {self.chosen}: {scored} {primary} {score(mean, sd)}"
        if self.ensemble_weights:
            chosen += " (" + ", ".join(f"{name} {weight:.2f}" for name, weight in self.ensemble_weights.items()) + ")"
        lines.append(chosen)
        lines += self.remarks
        if not math.isnan(self.peak_memory_mb):
            lines.append(f"peak memory {self.peak_memory_mb:.0f} MB (+{self.memory_growth_mb:.0f} MB in training)")
        lines.append(f"training took {self.duration_s:.1f} s of a {duration(self.budget_s)} budget")
        return lines


def train_models(table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, candidates: list[Candidate],
                 spec: Training, seed: int, on_progress: Callable[[str], None] | None = None,
                 selection: FeatureSelection | None = None, engine: FoldEngine | None = None) -> TrainingResult:
    """Split, maybe select inputs (`features.select`), search within the budget, maybe blend, refit: see the
    module docstring for the order. Cross-validation folds run on `engine` (a Dask cluster), by default in this
    process; the trials, the model and its scores are the same on either."""
    restore = quiet_optuna()
    try:
        with threadpool_limits(limits=spec.n_jobs):
            return _train(table, case=case, plan=plan, candidates=candidates, spec=spec, seed=seed,
                          progress=on_progress or (lambda message: None), selection=selection, engine=engine)
    finally:
        restore()


def _train(table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, candidates: list[Candidate],
           spec: Training, seed: int, progress: Callable[[str], None],
           selection: FeatureSelection | None, engine: FoldEngine | None) -> TrainingResult:
    """The steps in order, each handed what the one before returned."""
    ctx = Context(case, spec, seed, training_budget(case, spec), time.perf_counter(), progress)
    peak_before = peak_memory_mb()
    scope = search_scope(table, case=case, plan=plan, spec=spec, seed=seed, engine=engine)
    inputs = _inputs(scope, selection, ctx)
    inputs = replace(inputs, remarks=[*inputs.remarks, *_time_advice(scope, spec)])
    if scope.split.one_fold and (spec.parallel_folds > 1 or engine is not None):
        inputs = replace(inputs, remarks=[*inputs.remarks, (
            "each trial has one validation fold to fit (training.validation), so folds side by side "
            "(training.parallel_folds, or a Dask cluster) had nothing to share: set training.validation: cv to "
            "spread training.cv folds over them")])
    pool = competing(candidates, inputs.scope, ctx)
    tuned = search_candidates(pool, ctx)
    ranked = ranked_with_trials(tuned.searched, pool.scope, ctx)
    models = ranked.models  # every family's best trial and the blend's other trials: the recipes fitted from here
    judged = rows_or_model(ranked.board, models, pool.scope, ctx)
    timely = in_time(judged.board, models, pool.scope, ctx)
    board = timely.board
    final_s = fit_and_copies_s(board.members(), models, pool.scope, ctx) * TUNED_COST  # with a margin
    curves, curve_remarks = learning_curves(tuned.searched, pool.scope, ctx, reserve_s=final_s)
    rows = final_rows(board, models, pool.scope, ctx)
    pool = replace(pool, scope=rows.scope, remarks=[*pool.remarks, *ranked.remarks, *judged.remarks,
                                                    *timely.remarks, *rows.remarks])
    board = refit_for(board, models, pool.scope)
    pipeline = final_fit(board, models, pool.scope, ctx)
    copies = with_seed_copies(pipeline, board, models, pool.scope, ctx)
    pipeline, pool = copies.pipeline, replace(pool, remarks=[*pool.remarks, *copies.remarks])
    predict_ms = predict_ms_per_row(pipeline, pool.scope.data.X)
    runner_up = fit_runner_up(board, models, pool.scope, ctx)
    result = _result(ctx, inputs, pool, tuned, board, curves, pipeline, predict_ms=predict_ms,
                     peak_before=peak_before,
                     remarks=[*inputs.remarks, *pool.remarks, *tuned.remarks, *board.remarks, *curve_remarks])
    decided = class_decision(board, models, pool.scope.data, ctx.case)
    result = replace(result, positive_class=decided.positive_class, threshold=decided.threshold,
                     calibration=decided.calibration, remarks=[*result.remarks, *decided.notes])
    remarks = [*result.remarks, runner_up.note] if runner_up.name is not None else result.remarks
    return replace(result, runner_up=runner_up, remarks=[*remarks, *_copies_caveats(copies, decided, runner_up)],
                   refit_seeds=copies.count)


def _copies_caveats(copies: SeedCopies, decided: ClassDecision, runner_up: RunnerUp) -> list[str]:
    """What seed copies change in the steps that read the run's seed alone: the out-of-fold probabilities the
    threshold and calibration come from, and the holdout comparison with a runner-up fitted once."""
    if copies.count == 1:
        return []
    caveats = []
    tuned = decided.threshold is not None and decided.threshold.metric != "default"
    read = [part for part, present in (("decision threshold", tuned), ("calibration", decided.calibration is not None))
            if present]
    if read:
        with_them = "them" if len(read) > 1 else "it"
        caveats.append(f"the {' and '.join(read)} came from the out-of-fold probabilities of the run's seed; the "
                       f"model serves the mean of the probabilities of {copies.seeds_said} with {with_them}")
    if runner_up.pipeline is not None:
        caveats.append(f"the holdout compares the chosen model as it is served, the mean of {copies.seeds_said}, with "
                       f"{runner_up.name} fitted with one")
    return caveats


MIN_TIME_SPAN_DAYS = 60  # a date column spanning less than this says little about time to come


def _time_advice(scope: SearchScope, spec: Training) -> list[str]:
    """A word when the rows were split at random (training.split auto) although an input is a date spanning
    months or more: a model that will predict later dates than it trained on is judged honestly only on later
    rows (a time split), and a random holdout flatters it whenever the target moves with time."""
    if spec.split != "auto" or scope.split.kind not in ("random", "stratified"):
        return []
    for name in scope.plan.dates:
        days = scope.data.X[name].dropna()  # days since 1970, as the model frame reads dates
        if days.empty or days.max() - days.min() < MIN_TIME_SPAN_DAYS:
            continue
        first, last = (pd.Timestamp(float(value), unit="D").date() for value in (days.min(), days.max()))
        return [f"the rows were split at random though {name} is a date ({first} to {last}): if the model will "
                f"predict later dates than it learned from, set training.time_column: {name}, so the holdout and "
                f"the folds test on later rows than they fit on"]
    return []


@dataclass(frozen=True)
class _Inputs:
    """The scope after feature selection, if any ran."""

    scope: SearchScope
    kept: list[str] | None  # the inputs kept, when selection dropped some
    remarks: list[str]


def _inputs(scope: SearchScope, selection: FeatureSelection | None, ctx: Context) -> _Inputs:
    """Narrow the plan and the training frame to the inputs that carry out-of-fold gain (`features.select`)."""
    if selection is None or selection.method == "none":
        return _Inputs(scope, None, [])
    ctx.progress("selecting features by out-of-fold importance")
    chosen = select_features(scope.data, selection)
    return _Inputs(narrowed(scope, chosen), list(chosen.kept) if chosen.dropped else None, chosen.notes())


def _result(ctx: Context, inputs: _Inputs, pool: Pool, tuned: Tuned, board: Leaderboard,
            curves: list[LearningCurve], pipeline: Any, *, predict_ms: float, peak_before: float,
            remarks: list[str]) -> TrainingResult:
    scope, seed = pool.scope, ctx.seed
    peak = peak_memory_mb()
    seeds = {"split": seed, "cv": seed, "early_stopping": seed, "models": seed}
    seeds |= {f"tuning.{name}": sampler_seed(seed, name) for name in tuned.searched}
    classes = sorted(scope.data.classes.tolist()) if scope.data.classes is not None else None  # as the pipeline's
    return TrainingResult(
        board.scores, board.chosen, pipeline, scope.split.train_index, scope.split.holdout_index, classes,
        ctx.elapsed(), split=scope.split.description, budget_s=ctx.budget.seconds,
        budget_source=ctx.budget.source, plan={name: s.trials for name, s in tuned.searched.items()},
        planned=tuned.planned, replayed=ctx.replay is not None, seeds=seeds,
        estimates_s={name: round(float(cost[0]), 3) for name, cost in pool.estimates.items()},
        dropped={name: why for name, why in {**pool.dropped, **tuned.dropped}.items() if name not in tuned.searched},
        ensemble_weights=board.blend if board.chosen == ENSEMBLE else {},
        learning_curves=curves, predict_ms_per_row=predict_ms, peak_memory_mb=peak,
        memory_growth_mb=max(peak - peak_before, 0.0), safety_stop=tuned.safety_stop, remarks=remarks,
        features=pool.features if pool.features is not None else inputs.kept, search_rows=scope.split.rows_searched(),
        fitted_searched_rows=scope.fit_searched_rows, validation_folds=len(scope.split.folds),
    )


def predictions(pipeline: Any, X: pd.DataFrame, *, problem: str, positive: Any = None,
                threshold: float | None = None, calibration: Calibration | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Values, or labels and probabilities (of the positive class when binary: `positive`, by default the label
    sorting last). A label is the most probable class, or binary with a `threshold` the positive class when its
    probability reaches it, as the served model answers (CatBoost's own multiclass predict gives an (n, 1) column)."""
    if problem == "regression":
        return pipeline.predict(X), None
    proba = np.asarray(pipeline.predict_proba(X))
    classes = np.asarray(pipeline.classes_)
    if calibration is not None:
        proba = calibration.probabilities(proba, positive_column=_positive_column(classes, positive))
    predicted = label_of(proba, classes, threshold=threshold if problem == "binary" else None, positive=positive)
    if problem != "binary":
        return predicted, proba
    return predicted, proba[:, _positive_column(classes, positive)]


def _positive_column(classes: np.ndarray, positive: Any) -> int:
    return classes.tolist().index(positive) if positive is not None and positive in classes.tolist() else 1


def peak_memory_mb() -> float:
    """The process's peak resident memory (Linux and macOS); NaN where `resource` does not exist."""
    try:
        import resource
        import sys
    except ImportError:  # Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024

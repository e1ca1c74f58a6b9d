"""Stage 7, training: a holdout no tuning sees, a budgeted and seeded search per candidate, an ensemble when it
helps, and the winner refit on the whole training split as one estimator with its preprocessing.

The order: split; time a short fit per candidate and drop those that cannot finish cross-validation within the
budget; cross-validate every candidate's defaults; turn what is left of the budget into a plan of trials; run the
plan (Optuna TPE, pruned on early folds); blend the best models greedily if that beats the best one out of fold;
draw learning curves of the best two; refit. `training.tuning.plan` replays a recorded plan exactly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cairn.config.schema import FeatureSelection, Training
from cairn.errors import ConfigError
from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor
from cairn.estimators.native_categories import TabularPipeline
from cairn.estimators.target_transforms import expm1_target, log1p_target
from cairn.metrics.scoring import lower_is_better, shown
from cairn.model.trained import as_model_frame
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan, build_deriver, build_encoder
from cairn.stages.selection import CATALOGUE, Candidate, make_estimator
from cairn.stages.training.budget import (
    LEARNING_CURVE_COST,
    PLAN_SHARE,
    STOP_SHARE,
    TUNED_COST,
    Budget,
    CostEstimate,
    affordable,
    cheaper_search,
    duration,
    estimate_cost,
    plan_trials,
    screen_behind,
    screened_reason,
    training_budget,
    worth_screening,
)
from cairn.stages.training.crossval import (
    REFIT_TREES_GROW_AT_MOST,
    STOPPING_SHARE,
    CVResult,
    TrainingData,
    cross_validate,
    refit_trees,
    uses_early_stopping,
)
from cairn.stages.training.ensemble import blended_result, greedy_weights
from cairn.stages.training.importance import select_features
from cairn.stages.training.splits import search_sample, split_rows
from cairn.stages.training.tuning import CandidateSearch, Screen, enough_trials, quiet_optuna, sampler_seed

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
CURVE_SHARES = (0.25, 0.5)  # of each fold's training rows; the full size is the cross-validation itself
CURVE_FOLDS = 3  # learning curves average the first folds only: they show a trend, not a score
LATENCY_BATCH_ROWS = 1_000
# Tuning time goes to the best few by their defaults: the laggards rarely overtake, and the time they would
# spend buys the leaders more trials (on mlc_churn, linear and kNN had 8 trials each, the leader CatBoost 3).
TUNED_LEADERS = 3
TOP_UP_ROUNDS = 3  # plans after the first, each priced by the trials that ran


@dataclass(frozen=True)
class CandidateScore:
    model: str
    cv: dict[str, tuple[float, float]]  # metric -> (mean, sd) over folds
    train: float  # primary metric on the training folds, for bias-variance
    fit_time_s: float  # per fold, encoding included
    predict_ms_per_row: float = math.nan  # encoding and model, on each fold's validation batch
    params: dict[str, Any] = field(default_factory=dict)  # as refit (trees: see `refit_trees`)
    trials: int = 1  # trials run, the defaults' included
    pruned: int = 0
    best_iteration: int | None = None  # trees chosen by early stopping, mean over folds


@dataclass(frozen=True)
class LearningCurve:
    """Train and CV score of the primary metric as the training rows grow: a gap is variance, two poor
    scores are bias."""

    model: str
    rows: list[int]  # training rows per fold at each point
    train: list[float]
    cv: list[float]
    cv_sd: list[float]


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
        lines.append(f"{count} candidate{'s' if count != 1 else ''} compared by {self.search_rows:,}-row "
                     f"cross-validation")
        for row in self.leaderboard:
            row_mean, row_sd = row.cv[primary]
            detail = (f"{row.model}: CV {primary} {shown(primary, row_mean)} ± {shown(primary, row_sd)}, train "
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
        chosen = f"chose {self.chosen}: CV {primary} {shown(primary, mean)} ± {shown(primary, sd)}"
        if self.ensemble_weights:
            chosen += " (" + ", ".join(f"{name} {weight:.2f}" for name, weight in self.ensemble_weights.items()) + ")"
        lines.append(chosen)
        lines += self.remarks
        if not math.isnan(self.peak_memory_mb):
            lines.append(f"peak memory {self.peak_memory_mb:.0f} MB (+{self.memory_growth_mb:.0f} MB in training)")
        lines.append(f"training took {self.duration_s:.1f} s of a {duration(self.budget_s)} budget")
        return lines


def build_pipeline(candidate: Candidate, plan: FeaturePlan, *, case: BusinessCase, seed: int, n_jobs: int,
                   n_rows: int, params: dict[str, Any] | None = None) -> Any:
    """The whole path from a raw record to a prediction, as one scikit-learn estimator."""
    steps = [("encode", build_encoder(plan, scale=candidate.needs_scaling, one_hot=candidate.one_hot)),
             ("model", make_estimator(candidate, case=case, seed=seed, n_jobs=n_jobs, n_rows=n_rows, params=params))]
    deriver = build_deriver(plan)
    if deriver is not None:
        steps.insert(0, ("derive", deriver))
    pipeline = TabularPipeline(steps) if candidate.native_categories else Pipeline(steps)
    if plan.target_transform == "log":
        return TransformedTargetRegressor(regressor=pipeline, func=log1p_target, inverse_func=expm1_target,
                                          check_inverse=False)
    return pipeline


def train_models(table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, candidates: list[Candidate],
                 spec: Training, seed: int, on_progress: Callable[[str], None] | None = None,
                 selection: FeatureSelection | None = None) -> TrainingResult:
    """Split, maybe select inputs (`features.select`), search within the budget, maybe blend, refit: see the
    module docstring for the order."""
    restore = quiet_optuna()
    try:
        with threadpool_limits(limits=spec.n_jobs):
            return _Training(table, case=case, plan=plan, candidates=candidates, spec=spec, seed=seed,
                             progress=on_progress or (lambda message: None), selection=selection).run()
    finally:
        restore()


class _Training:
    """One training stage's state, so each step reads as a method."""

    def __init__(self, table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, candidates: list[Candidate],
                 spec: Training, seed: int, progress: Callable[[str], None],
                 selection: FeatureSelection | None = None):
        self.started = time.perf_counter()
        self.peak_before = peak_memory_mb()
        self.case, self.plan, self.spec, self.seed, self.progress = case, plan, spec, seed, progress
        self.candidates = candidates
        self.full_split = split_rows(table, case=case, spec=spec, seed=seed)
        self.split = search_sample(self.full_split, rows=spec.search_rows, seed=seed)
        self.fit_searched_rows = spec.final_fit == "searched_rows"
        self.caps: dict[str, int] | None = None  # trials worth running per candidate, once decided
        features = as_model_frame(table, plan.features)
        X = features.iloc[self.split.train_index].reset_index(drop=True)  # noqa: N806
        y = table[case.target].to_numpy()[self.split.train_index]
        classes = np.array(sorted(pd.unique(y).tolist())) if case.problem != "regression" else None
        self.data = TrainingData(X, y, self.split, plan, case, classes, case.reported_metrics, seed, spec.n_jobs,
                                 spec.early_stopping, spec.parallel_folds)
        self.budget: Budget = training_budget(case, spec)
        self.dropped: dict[str, str] = {}
        self.remarks: list[str] = []
        self.safety_stop: str | None = None
        self.selected: list[str] | None = None
        if selection is not None and selection.method != "none":
            self._select_features(selection)

    def _select_features(self, selection: FeatureSelection) -> None:
        """Narrow the plan and the training frame to the inputs that carry out-of-fold gain; every later step,
        the refit pipeline included, then sees only those."""
        self.progress("selecting features by out-of-fold importance")
        chosen = select_features(self.data, selection)
        self.remarks += chosen.notes()
        if not chosen.dropped:
            return
        self.plan = replace(self.plan, features=[f for f in self.plan.features if f.name in chosen.kept],
                            dropped={**self.plan.dropped, **chosen.dropped})
        self.data = replace(self.data, X=self.data.X[chosen.kept], plan=self.plan, _encoded={})
        self.selected = list(chosen.kept)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def run(self) -> TrainingResult:
        replay = self.spec.tuning.plan
        pool = self._within_row_limits(self.candidates)
        pool, estimates = self._replayed(pool, replay) if replay is not None else self._affordable(pool)
        refit_reserve = sum(estimates.get(c.name, (0.0, 0.0))[1] for c in pool) * TUNED_COST
        deadline = None if replay is not None else self.started + self.budget.seconds * STOP_SHARE - refit_reserve
        searches, cv_seconds = self._defaults(pool, deadline, estimates)
        planned = self._plan(searches, cv_seconds, replay)
        tuning_s = self._tune(searches, planned, deadline)
        if replay is None and self.spec.tuning.enabled:
            self._top_up(searches, cv_seconds, tuning_s, deadline)
        results = {name: s.best for name, s in searches.items() if s.best is not None}
        board, weights = self._leaderboard(results, searches)
        curves = self._learning_curves(results, cv_seconds, refit_reserve)
        pipeline, chosen = self._refit(board[0].model, results, weights)
        batch = self.data.X.iloc[:LATENCY_BATCH_ROWS]
        began = time.perf_counter()
        pipeline.predict(batch)
        predict_ms = (time.perf_counter() - began) * 1000 / max(len(batch), 1)
        peak = peak_memory_mb()
        seeds = {"split": self.seed, "cv": self.seed, "early_stopping": self.seed, "models": self.seed}
        seeds |= {f"tuning.{name}": sampler_seed(self.seed, name) for name in searches}
        return TrainingResult(
            board, chosen, pipeline, self.split.train_index, self.split.holdout_index,
            self.data.classes.tolist() if self.data.classes is not None else None, self.elapsed,
            split=self.split.description, budget_s=self.budget.seconds, budget_source=self.budget.source,
            plan={name: s.trials_run for name, s in searches.items()}, planned=planned, replayed=replay is not None,
            seeds=seeds, estimates_s={name: round(float(cost[0]), 3) for name, cost in estimates.items()},
            dropped=self.dropped, ensemble_weights=weights if chosen == ENSEMBLE else {}, learning_curves=curves,
            predict_ms_per_row=predict_ms, peak_memory_mb=peak, memory_growth_mb=max(peak - self.peak_before, 0.0),
            safety_stop=self.safety_stop, remarks=self.remarks, features=self.selected,
            search_rows=self.split.rows_searched(),
        )

    # which candidates compete -------------------------------------------------------------------------------
    def _within_row_limits(self, candidates: list[Candidate]) -> list[Candidate]:
        rows = len(self.data.y)
        kept = []
        for candidate in candidates:
            if candidate.max_rows is not None and rows > candidate.max_rows:
                self.dropped[candidate.name] = (f"{rows:,} training rows; the default list keeps it under "
                                                f"{candidate.max_rows:,} (name it in models.candidates to keep it)")
            else:
                kept.append(candidate)
        return kept

    def _replayed(self, pool: list[Candidate], replay: dict[str, int]
                  ) -> tuple[list[Candidate], dict[str, tuple[float, float]]]:
        names = [c.name for c in self.candidates]
        unknown = [name for name in replay if name not in names]
        if unknown:
            raise ConfigError.single(
                "training.tuning.plan names a model that does not compete.", where=f"training.tuning.plan.{unknown[0]}",
                expected=f"one of the candidates ({', '.join(names)})", got=unknown[0],
                fix=f"add {unknown[0]} to models.candidates, or remove it from the plan",
            )
        kept = []
        for candidate in pool:
            if replay.get(candidate.name, 0) >= 1:
                kept.append(candidate)
            else:
                self.dropped[candidate.name] = "not in training.tuning.plan"
        if not kept:
            raise ConfigError.single(
                "training.tuning.plan leaves no model to train.", where="training.tuning.plan",
                expected="at least one candidate with one trial or more", got=str(dict(replay)),
                fix="copy the plan from a run's manifest, or remove training.tuning.plan",
            )
        return kept, {}

    def _affordable(self, pool: list[Candidate]) -> tuple[list[Candidate], dict[str, tuple[float, float]]]:
        self.progress("timing a sample fit of each candidate")
        estimates = [estimate_cost(candidate, self.data) for candidate in pool]
        if self.fit_searched_rows:
            fit_rows = len(self._fit_rows())
            estimates = [replace(e, refit_s=e.fit_s(fit_rows)) for e in estimates]
        left = self.budget.seconds * PLAN_SHARE - self.elapsed
        folds = len(self.split.folds)
        kept, dropped = affordable(estimates, budget=self.budget, seconds_left=left, folds=folds)
        if dropped:
            estimates, kept, dropped = self._smaller_search(estimates, kept, dropped, left)
        self.dropped |= dropped
        for name in dropped:
            log.info("dropped %s: %s", name, dropped[name])
        return [c for c in pool if c.name in kept], {e.name: (e.cv_s, e.refit_s) for e in estimates}

    def _smaller_search(self, estimates: list[CostEstimate], kept: list[str], dropped: dict[str, str],
                        left: float) -> tuple[list[CostEstimate], list[str], dict[str, str]]:
        """Apply `cheaper_search`'s choice, when it lets more candidates compete: resample the folds, fit the
        judged model on the searched rows, and say in the notes how to replay it."""
        searched = self.split.rows_searched()
        choice = cheaper_search(estimates, searched=searched, fold_rows=self.data.fold_rows,
                                training_rows=len(self.data.y), folds=len(self.split.folds), budget=self.budget,
                                seconds_left=left, fit_searched=self.fit_searched_rows)
        if len(choice.dropped) == len(dropped):
            return estimates, kept, dropped  # nothing gained: keep the plan as it was
        replay = []
        if choice.rows < searched:
            replay.append(f"training.search_rows: {choice.rows}")
            self.split = search_sample(self.full_split, rows=choice.rows, seed=self.seed, why="to fit the budget")
            self.data = replace(self.data, split=self.split, _encoded={})
        if choice.fit_searched and not self.fit_searched_rows:
            self.fit_searched_rows = True
            replay.append("training.final_fit: searched_rows")
            self.remarks.append(f"the model the holdout judges was fitted on the {choice.rows:,} searched rows, not "
                                f"all {len(self.data.y):,}: a fit on every row would not finish in time")
        if replay:
            self.remarks.append(f"to replay this run with training.tuning.plan, also set {' and '.join(replay)}")
        return choice.estimates, choice.kept, choice.dropped

    # the search ---------------------------------------------------------------------------------------------
    def _defaults(self, pool: list[Candidate], deadline: float | None,
                  estimates: dict[str, tuple[float, float]]) -> tuple[dict[str, CandidateSearch], dict[str, float]]:
        """Trial 0 of every candidate. The first always finishes, so there is a model whatever the clock says.
        An expensive candidate whose first folds fall far behind the leader stops there (see `_screen`)."""
        searches: dict[str, CandidateSearch] = {}
        cv_seconds: dict[str, float] = {}
        for candidate in pool:
            self.progress(f"cross-validating {candidate.name}")
            search = CandidateSearch(candidate, self.data, self.seed, deadline=deadline if searches else None)
            began = time.perf_counter()
            search.run_defaults(screen=self._screen(searches, estimates.get(candidate.name, (0.0, 0.0))[0]))
            if search.screened is not None:
                self.dropped[candidate.name] = self._screened_reason(search, searches, estimates)
                continue
            if search.best is None:
                self.dropped[candidate.name] = "its cross-validation did not finish within the budget (safety stop)"
                self.safety_stop = self.safety_stop or f"{candidate.name} cut at {self.elapsed:.0f} s"
                continue
            searches[candidate.name] = search
            cv_seconds[candidate.name] = time.perf_counter() - began
            log.info("%s defaults: CV %s %.4g in %.1f s", candidate.name, self.case.primary_metric,
                     search.best.primary_mean, cv_seconds[candidate.name])
        return searches, cv_seconds

    def _screen(self, searches: dict[str, CandidateSearch], estimate_s: float) -> Screen | None:
        """Screening against the leader so far, for a candidate expensive enough to be worth it (see
        `cairn.stages.budget.screen_behind`)."""
        if not searches or not worth_screening(estimate_s, self.budget):
            return None
        leader = searches[self._ranked(searches)[0]].best
        assert leader is not None
        return screen_behind(leader.fold_scores, self.case.primary_metric)

    def _screened_reason(self, search: CandidateSearch, searches: dict[str, CandidateSearch],
                         estimates: dict[str, tuple[float, float]]) -> str:
        folds, running = search.screened  # type: ignore[misc]
        leader = self._ranked(searches)[0]
        return screened_reason(self.case.primary_metric, folds=folds, running=running, leader=leader,
                               leader_scores=searches[leader].best.fold_scores,  # type: ignore[union-attr]
                               estimate_s=estimates[search.candidate.name][0])

    def _plan(self, searches: dict[str, CandidateSearch], cv_seconds: dict[str, float],
              replay: dict[str, int] | None) -> dict[str, int]:
        if replay is not None:
            return {name: int(replay[name]) for name in searches}
        if not self.spec.tuning.enabled:
            return dict.fromkeys(searches, 1)
        if self.spec.tuning.trials is not None and self.spec.tuning.trials < len(searches):
            self.remarks.append(f"training.tuning.trials {self.spec.tuning.trials} is below the number of "
                                f"candidates; each still had its defaults cross-validated")
        trial_s = {name: seconds * TUNED_COST for name, seconds in cv_seconds.items()}
        return plan_trials(trial_s, caps=self._caps(searches), seconds=self._seconds_to_tune(searches, cv_seconds),
                           total=self.spec.tuning.trials)

    def _caps(self, searches: dict[str, CandidateSearch]) -> dict[str, int]:
        """Trials worth running per candidate in this budget; only the best few by their defaults are tuned.
        Decided once, before tuning reorders the candidates, so top-up rounds tune the same leaders."""
        if self.caps is not None:
            return self.caps
        problem = self.case.problem
        caps = {name: enough_trials(s.candidate, problem=problem, budget_s=self.budget.seconds)
                for name, s in searches.items()}
        tunable = [name for name in self._ranked(searches) if caps[name] > 1]
        if len(tunable) > TUNED_LEADERS:
            caps |= dict.fromkeys(tunable[TUNED_LEADERS:], 1)
            self.remarks.append(f"tuning time went to the {TUNED_LEADERS} best by their defaults "
                                f"({', '.join(tunable[:TUNED_LEADERS])}); {', '.join(tunable[TUNED_LEADERS:])} kept "
                                f"their defaults")
        self.caps = caps
        return caps

    def _seconds_to_tune(self, searches: dict[str, CandidateSearch], cv_seconds: dict[str, float]) -> float:
        return self.budget.seconds * PLAN_SHARE - self.elapsed - self._reserve(searches, cv_seconds)

    def _tune(self, searches: dict[str, CandidateSearch], planned: dict[str, int], deadline: float | None
              ) -> dict[str, float]:
        """Run each candidate's search up to its planned trials; the seconds each spent tuning."""
        spent = dict.fromkeys(searches, 0.0)
        for name, search in searches.items():
            if planned[name] <= search.trials_run or search.stopped:
                continue
            self.progress(f"cross-validating {name}: tuning, {planned[name] - search.trials_run} more trials")
            search.deadline = deadline
            began = time.perf_counter()
            search.run(planned[name])
            spent[name] = time.perf_counter() - began
            if search.stopped and not self.safety_stop:
                self.safety_stop = (f"tuning stopped at {self.elapsed:.0f} s of a {duration(self.budget.seconds)}"
                                    f" budget during {name}; the plan below is what ran and replays this model")
        return spent

    def _top_up(self, searches: dict[str, CandidateSearch], cv_seconds: dict[str, float],
                tuning_s: dict[str, float], deadline: float | None) -> None:
        """Plan again from the time left, at the cost trials really had: the first plan prices every trial like
        the defaults' full cross-validation, and pruned trials cost a fraction of that. Each search continues
        its own seeded study, so the manifest's trial counts still replay this model in one round."""
        for _ in range(TOP_UP_ROUNDS):
            if self.safety_stop:
                return
            ran = {name: s.trials_run for name, s in searches.items()}
            trial_s = {name: tuning_s[name] / (ran[name] - 1) if ran[name] > 1 else cv_seconds[name] * TUNED_COST
                       for name in searches}
            more = plan_trials(trial_s, caps=self._caps(searches), seconds=self._seconds_to_tune(searches, cv_seconds),
                               total=self.spec.tuning.trials, ran=ran)
            if more == ran:
                return
            spent = self._tune(searches, more, deadline)
            tuning_s = {name: tuning_s[name] + spent[name] for name in searches}

    def _reserve(self, searches: dict[str, CandidateSearch], cv_seconds: dict[str, float]) -> float:
        """What must stay free after tuning: the refit of the best three by their defaults (a blend refits its
        members, rarely more than three) and the learning curves of the best two. Tuning seldom reorders the
        leaders; when it does, the curves' own check still holds the budget."""
        folds = len(self.split.folds)
        growth = len(self._fit_rows()) / self.data.fold_rows  # the refit has more rows than a fold
        trees = min(self._tree_growth(), REFIT_TREES_GROW_AT_MOST)  # and boosters more trees
        best = self._ranked(searches)
        refits = sum(cv_seconds[n] / folds * growth * (trees if searches[n].candidate.boosted else 1.0)
                     for n in best[:3]) * TUNED_COST
        return refits + LEARNING_CURVE_COST * sum(cv_seconds[n] for n in best[:2]) * TUNED_COST

    def _ranked(self, searches: dict[str, CandidateSearch]) -> list[str]:
        """Candidates best first by their defaults' cross-validation (ties keep the candidates' order)."""
        return sorted(searches, key=lambda n: searches[n].best.primary_mean,  # type: ignore[union-attr]
                      reverse=not lower_is_better(self.case.primary_metric))

    # what the search found ----------------------------------------------------------------------------------
    def _leaderboard(self, results: dict[str, CVResult], searches: dict[str, CandidateSearch]
                     ) -> tuple[list[CandidateScore], dict[str, float]]:
        primary = self.case.primary_metric
        board = [CandidateScore(name, r.cv, r.train, r.fit_time_s, r.predict_ms_per_row,
                                self._refit_params(searches[name].candidate, r), searches[name].trials_run,
                                searches[name].pruned, r.best_iteration)
                 for name, r in results.items()]
        weights: dict[str, float] = {}
        if self.spec.ensemble and len(results) >= 2:
            weights = greedy_weights(results, self.data)
            if len(weights) >= 2:
                blend = blended_result(results, weights, self.data)
                results[ENSEMBLE] = blend
                board.append(CandidateScore(ENSEMBLE, blend.cv, blend.train, blend.fit_time_s,
                                            blend.predict_ms_per_row, {"weights": dict(weights)}, 0, 0, None))
            else:
                self.remarks.append(f"ensemble: no blend beat {next(iter(weights))} alone out of fold")
        board.sort(key=lambda s: s.cv[primary][0], reverse=not lower_is_better(primary))  # stable: ties keep order
        return board, weights

    def _fit_rows(self) -> np.ndarray:
        """Positions of the training rows the judged model is fitted on (see training.final_fit)."""
        if not self.fit_searched_rows:
            return np.arange(len(self.data.y))
        return self.split.searched()

    def _refit_params(self, candidate: Candidate, result: CVResult) -> dict[str, Any]:
        params = dict(result.params)
        if result.best_iteration is not None and uses_early_stopping(candidate, self.data):
            params[candidate.trees_param or ""] = refit_trees(result.best_iteration, growth=self._tree_growth())
        return params

    def _tree_growth(self) -> float:
        """Rows of the final fit against the rows a fold's booster fitted on (the fold less its stopping slice)."""
        return len(self._fit_rows()) / (self.data.fold_rows * (1 - STOPPING_SHARE))

    def _learning_curves(self, results: dict[str, CVResult], cv_seconds: dict[str, float],
                         refit_reserve: float) -> list[LearningCurve]:
        primary = self.case.primary_metric
        singles = sorted((n for n in results if n != ENSEMBLE), key=lambda n: results[n].primary_mean,
                         reverse=not lower_is_better(primary))[:2]
        cost = LEARNING_CURVE_COST * sum(cv_seconds.get(n, 0.0) for n in singles) * TUNED_COST
        if self.spec.tuning.plan is None and self.elapsed + cost + refit_reserve > self.budget.seconds * STOP_SHARE:
            self.remarks.append(f"learning curves skipped: an estimated {duration(cost)} would overrun the budget")
            return []
        self.progress("learning curves of " + " and ".join(singles))
        candidates = {c.name: c for c in self.candidates}
        curves = []
        for name in singles:
            full = results[name]
            points = [cross_validate(candidates[name], full.params, self.data, rows_share=share, keep_outputs=False,
                                     folds=CURVE_FOLDS) for share in CURVE_SHARES]
            folds = self.split.folds[:CURVE_FOLDS]
            rows = [int(np.mean([max(20, int(len(f) * s)) for f, _ in folds])) for s in CURVE_SHARES]
            rows.append(int(np.mean([len(f) for f, _ in folds])))
            cv_full, train_full = full.fold_scores[:CURVE_FOLDS], full.train_fold_scores[:CURVE_FOLDS]
            curves.append(LearningCurve(name, rows, [p.train for p in points] + [float(np.mean(train_full))],
                                        [p.cv[primary][0] for p in points] + [float(np.mean(cv_full))],
                                        [p.cv[primary][1] for p in points] + [float(np.std(cv_full))]))
        return curves

    def _refit(self, chosen: str, results: dict[str, CVResult], weights: dict[str, float]) -> tuple[Any, str]:
        """The chosen model (or blend) fitted on every training row (or the searched ones: training.final_fit),
        preprocessing included."""
        candidates = {c.name: c for c in self.candidates}
        members = list(weights) if chosen == ENSEMBLE else [chosen]
        rows = self._fit_rows()
        X, y = self.data.X.iloc[rows], self.data.y[rows]  # noqa: N806
        self.progress(f"refitting {' + '.join(members)} on {len(y):,} rows")
        pipelines = [(name, build_pipeline(candidates[name], self.plan, case=self.case, seed=self.seed,
                                           n_jobs=self.spec.n_jobs, n_rows=len(y),
                                           params=self._refit_params(candidates[name], results[name])))
                     for name in members]
        if chosen != ENSEMBLE:
            return pipelines[0][1].fit(X, y), chosen
        blend_class = EnsembleRegressor if self.case.problem == "regression" else EnsembleClassifier
        blend = blend_class(estimators=pipelines, weights=[weights[name] for name in members])
        return blend.fit(X, y), ENSEMBLE


def predictions(pipeline: Any, X: pd.DataFrame, *, problem: str) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: N803
    """Labels (or values) and, for classifiers, probabilities: of the positive class when binary."""
    predicted = pipeline.predict(X)
    if problem == "regression":
        return predicted, None
    proba = pipeline.predict_proba(X)
    return predicted, proba[:, 1] if problem == "binary" else proba


def peak_memory_mb() -> float:
    """The process's peak resident memory (Linux and macOS); NaN where `resource` does not exist."""
    try:
        import resource
        import sys
    except ImportError:  # Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024

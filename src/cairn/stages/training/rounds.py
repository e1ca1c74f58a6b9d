"""The search: every candidate's defaults (trial 0), a plan of trials from what is left of the budget, the tuning
that runs it, and top-up rounds that plan again at the cost trials really had.

The `CandidateSearch` objects live only here: each continues its own seeded Optuna study from round to round, and
what leaves this module is a frozen `Searched` per candidate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from cairn.metrics.scoring import lower_is_better
from cairn.stages.selection import Candidate
from cairn.stages.training.budget import (
    LEARNING_CURVE_COST,
    PLAN_SHARE,
    STOP_SHARE,
    TUNED_COST,
    Budget,
    duration,
    plan_trials,
    screen_behind,
    screened_reason,
    worth_screening,
)
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import REFIT_TREES_GROW_AT_MOST, CVResult
from cairn.stages.training.pool import Pool
from cairn.stages.training.scope import SearchScope
from cairn.stages.training.tuning import CandidateSearch, Screen, enough_trials

log = logging.getLogger(__name__)

# Tuning time goes to the best few by their defaults: the laggards rarely overtake, and the time they would
# spend buys the leaders more trials (on mlc_churn, linear and kNN had 8 trials each, the leader CatBoost 3).
TUNED_LEADERS = 3
TOP_UP_ROUNDS = 3  # plans after the first, each priced by the trials that ran


@dataclass(frozen=True)
class Searched:
    """One candidate's search, as it ended."""

    candidate: Candidate
    best: CVResult  # the best complete trial
    trials: int  # trials run, the defaults' included: what training.tuning.plan replays
    pruned: int
    cv_s: float  # seconds the defaults' cross-validation took


@dataclass(frozen=True)
class Tuned:
    searched: dict[str, Searched]  # the candidates whose defaults finished, in the pool's order
    planned: dict[str, int]  # the first plan: top-up rounds add to it, a safety stop cuts it
    dropped: dict[str, str]  # screened out, or cut by the safety stop, before their defaults finished
    remarks: list[str] = field(default_factory=list)
    safety_stop: str | None = None


@dataclass(frozen=True)
class Defaults:
    """Trial 0 of every candidate in the pool."""

    searches: dict[str, CandidateSearch]  # those whose defaults finished
    cv_seconds: dict[str, float]  # seconds each one's cross-validation took
    dropped: dict[str, str]
    safety_stop: str | None


@dataclass(frozen=True)
class Caps:
    trials: dict[str, int]  # trials worth running per candidate in this budget
    remarks: list[str]


def search_candidates(pool: Pool, ctx: Context) -> Tuned:
    """Defaults, the first plan, tuning to it, then top-up rounds when the plan came from the clock."""
    deadline = None if ctx.replay is not None else ctx.started + ctx.budget.seconds * STOP_SHARE - pool.refit_reserve_s
    defaults = run_defaults(pool, ctx, deadline)
    # The first search ran its defaults without a deadline, so there is a model whatever the clock says; every
    # trial after the defaults runs under it. Each search continues as a copy that carries the deadline.
    searches = {name: replace(search, deadline=deadline) for name, search in defaults.searches.items()}
    cv_seconds = defaults.cv_seconds
    remarks: list[str] = []
    caps = None
    if ctx.replay is not None:
        planned = {name: int(ctx.replay[name]) for name in searches}
    elif not ctx.spec.tuning.enabled:
        planned = dict.fromkeys(searches, 1)
    else:
        remarks += too_few_trials(ctx, candidates=len(searches))
        caps = tuning_caps(searches, ctx)  # decided before tuning reorders them: top-ups tune the same leaders
        remarks += caps.remarks
        planned = first_plan(cv_seconds, caps.trials, seconds=seconds_to_tune(searches, cv_seconds, pool.scope, ctx),
                             total=ctx.spec.tuning.trials)
    tuning_s, tuning_stop = tune(searches, planned, ctx)
    safety_stop = defaults.safety_stop or tuning_stop
    if caps is not None and safety_stop is None:
        safety_stop = top_up(searches, cv_seconds, tuning_s, caps=caps.trials, scope=pool.scope, ctx=ctx)
    searched = {name: Searched(s.candidate, s.best, s.trials_run, s.pruned, cv_seconds[name])
                for name, s in searches.items() if s.best is not None}
    return Tuned(searched, planned, defaults.dropped, remarks, safety_stop)


def run_defaults(pool: Pool, ctx: Context, deadline: float | None) -> Defaults:
    """Trial 0 of every candidate. The first always finishes, so there is a model whatever the clock says.
    An expensive candidate whose first folds fall far behind the leader stops there (see `screen`)."""
    searches: dict[str, CandidateSearch] = {}
    cv_seconds: dict[str, float] = {}
    dropped: dict[str, str] = {}
    safety_stop = None
    for candidate in pool.candidates:
        ctx.progress(f"cross-validating {candidate.name}")
        search = CandidateSearch(candidate, pool.scope.data, ctx.seed, deadline=deadline if searches else None)
        estimate_s = pool.estimates.get(candidate.name, (0.0, 0.0))[0]
        began = time.perf_counter()
        search.run_defaults(screen=screen(searches, estimate_s, primary=ctx.primary, budget=ctx.budget))
        if search.screened is not None:
            dropped[candidate.name] = screened_why(search, searches, estimate_s, primary=ctx.primary)
            continue
        if search.best is None:
            dropped[candidate.name] = "its cross-validation did not finish within the budget (safety stop)"
            safety_stop = safety_stop or f"{candidate.name} cut at {ctx.elapsed():.0f} s"
            continue
        searches[candidate.name] = search
        cv_seconds[candidate.name] = time.perf_counter() - began
        log.info("%s defaults: CV %s %.4g in %.1f s", candidate.name, ctx.primary, search.best.primary_mean,
                 cv_seconds[candidate.name])
    return Defaults(searches, cv_seconds, dropped, safety_stop)


def screen(searches: dict[str, CandidateSearch], estimate_s: float, *, primary: str, budget: Budget
           ) -> Screen | None:
    """Screening against the leader so far, for a candidate expensive enough to be worth it (see
    `cairn.stages.training.budget.screen_behind`)."""
    if not searches or not worth_screening(estimate_s, budget):
        return None
    leader = searches[ranked(searches, primary)[0]].best
    assert leader is not None
    return screen_behind(leader.fold_scores, primary)


def screened_why(search: CandidateSearch, searches: dict[str, CandidateSearch], estimate_s: float, *,
                 primary: str) -> str:
    folds, running = search.screened  # type: ignore[misc]
    leader = ranked(searches, primary)[0]
    return screened_reason(primary, folds=folds, running=running, leader=leader,
                           leader_scores=searches[leader].best.fold_scores,  # type: ignore[union-attr]
                           estimate_s=estimate_s)


def ranked(searches: dict[str, CandidateSearch], primary: str) -> list[str]:
    """Candidates best first by their best trial so far (ties keep the candidates' order)."""
    return sorted(searches, key=lambda n: searches[n].best.primary_mean,  # type: ignore[union-attr]
                  reverse=not lower_is_better(primary))


def too_few_trials(ctx: Context, *, candidates: int) -> list[str]:
    trials = ctx.spec.tuning.trials
    if trials is None or trials >= candidates:
        return []
    return [f"training.tuning.trials {trials} is below the number of candidates; each still had its defaults "
            f"cross-validated"]


def tuning_caps(searches: dict[str, CandidateSearch], ctx: Context) -> Caps:
    """Trials worth running per candidate in this budget; only the best few by their defaults are tuned."""
    caps = {name: enough_trials(s.candidate, problem=ctx.case.problem, budget_s=ctx.budget.seconds)
            for name, s in searches.items()}
    tunable = [name for name in ranked(searches, ctx.primary) if caps[name] > 1]
    if len(tunable) <= TUNED_LEADERS:
        return Caps(caps, [])
    caps |= dict.fromkeys(tunable[TUNED_LEADERS:], 1)
    return Caps(caps, [f"tuning time went to the {TUNED_LEADERS} best by their defaults "
                       f"({', '.join(tunable[:TUNED_LEADERS])}); {', '.join(tunable[TUNED_LEADERS:])} kept "
                       f"their defaults"])


def first_plan(cv_seconds: dict[str, float], caps: dict[str, int], *, seconds: float, total: int | None
               ) -> dict[str, int]:
    """Trials per candidate within `seconds`, pricing every tuned trial like the defaults' cross-validation."""
    trial_s = {name: cv_s * TUNED_COST for name, cv_s in cv_seconds.items()}
    return plan_trials(trial_s, caps=caps, seconds=seconds, total=total)


def tune(searches: dict[str, CandidateSearch], planned: dict[str, int], ctx: Context
         ) -> tuple[dict[str, float], str | None]:
    """Run each candidate's search up to its planned trials: the seconds each spent tuning, and the safety stop
    if the deadline cut one."""
    spent = dict.fromkeys(searches, 0.0)
    safety_stop = None
    for name, search in searches.items():
        if planned[name] <= search.trials_run or search.stopped:
            continue
        ctx.progress(f"cross-validating {name}: tuning, {planned[name] - search.trials_run} more trials")
        began = time.perf_counter()
        search.run(planned[name])
        spent[name] = time.perf_counter() - began
        if search.stopped and not safety_stop:
            safety_stop = (f"tuning stopped at {ctx.elapsed():.0f} s of a {duration(ctx.budget.seconds)} budget "
                           f"during {name}; the plan below is what ran and replays this model")
    return spent, safety_stop


def top_up(searches: dict[str, CandidateSearch], cv_seconds: dict[str, float], tuning_s: dict[str, float], *,
           caps: dict[str, int], scope: SearchScope, ctx: Context) -> str | None:
    """Plan again from the time left, at the cost trials really had: the first plan prices every trial like
    the defaults' full cross-validation, and pruned trials cost a fraction of that. Each search continues
    its own seeded study, so the manifest's trial counts still replay this model in one round. The safety stop,
    if the deadline cut a round."""
    for _ in range(TOP_UP_ROUNDS):
        ran = {name: s.trials_run for name, s in searches.items()}
        trial_s = {name: tuning_s[name] / (ran[name] - 1) if ran[name] > 1
                   else cv_seconds[name] * TUNED_COST for name in searches}
        totals = plan_trials(trial_s, caps=caps, seconds=seconds_to_tune(searches, cv_seconds, scope, ctx),
                             total=ctx.spec.tuning.trials, ran=ran)
        if totals == ran:
            return None
        spent, safety_stop = tune(searches, totals, ctx)
        if safety_stop:
            return safety_stop
        tuning_s = {name: tuning_s[name] + spent[name] for name in searches}
    return None


def seconds_to_tune(searches: dict[str, CandidateSearch], cv_seconds: dict[str, float], scope: SearchScope,
                    ctx: Context) -> float:
    """What a plan may fill: its share of the budget, less the time gone and the reserve."""
    return ctx.budget.seconds * PLAN_SHARE - ctx.elapsed() - reserve_s(searches, cv_seconds, scope, primary=ctx.primary)


def reserve_s(searches: dict[str, CandidateSearch], cv_seconds: dict[str, float], scope: SearchScope, *,
              primary: str) -> float:
    """What must stay free after tuning: the refit of the best three (a blend refits its members, rarely more
    than three) and the learning curves of the best two. Tuning seldom reorders the leaders; when it does, the
    curves' own check still holds the budget."""
    folds = len(scope.split.folds)
    growth = len(scope.fit_rows()) / scope.data.fold_rows  # the refit has more rows than a fold
    trees = min(scope.tree_growth(), REFIT_TREES_GROW_AT_MOST)  # and boosters more trees
    best = ranked(searches, primary)
    refits = sum(cv_seconds[n] / folds * growth * (trees if searches[n].candidate.boosted else 1.0)
                 for n in best[:3]) * TUNED_COST
    return refits + LEARNING_CURVE_COST * sum(cv_seconds[n] for n in best[:2]) * TUNED_COST

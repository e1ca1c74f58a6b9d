"""The search: every candidate's defaults (trial 0), a plan of trials from what is left of the budget, the tuning
that runs it, and top-up rounds that plan again at the cost trials really had. When every candidate reaches its
trial cap with time left, the leaders whose searches still improve get more trials, then the candidates that kept
their defaults but are close enough to join the blend get tuned; a run that stops early because every search
converged says so.

The `CandidateSearch` objects live only here: each continues its own seeded Optuna study from round to round, and
what leaves this module is a frozen `Searched` per candidate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from cairn.stages.selection import Candidate
from cairn.stages.training.budget import (
    STOP_SHARE,
    TRIVIAL_S,
    TUNED_COST,
    duration,
    plan_trials,
)
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import CVResult
from cairn.stages.training.ensemble import did_well
from cairn.stages.training.late import Late, try_dropped
from cairn.stages.training.pool import Pool
from cairn.stages.training.scope import SearchScope
from cairn.stages.training.standing import first_trial, ranked, safety_deadline, screened_why, seconds_to_tune
from cairn.stages.training.tuning import CandidateSearch, enough_trials, still_improving

log = logging.getLogger(__name__)

# Tuning time goes to the best few by their defaults: the laggards rarely overtake, and the time they would
# spend buys the leaders more trials (on mlc_churn, linear and kNN had 8 trials each, the leader CatBoost 3).
TUNED_LEADERS = 3
# ... and only those within this much of the best one's error: on computers extra trees, 23% behind, had as much
# tuning time as CatBoost and LightGBM (3 trials against 2) and no weight in the blend.
TUNED_WITHIN = 0.2
TOP_UP_ROUNDS = 40  # plans after the first, each priced by the trials that ran; each round runs a trial or ends
# Top-up rounds price trials at what they really cost, so they may plan closer to the budget than the first plan
# (budget.PLAN_SHARE); the reserve for the final fit's refits (`standing.reserve_s`) still comes off. At 0.85 with
# caps that never grew, small data left a third of the budget unused (wage 46 s of 60, hmda 49 s, bench/automl.py).
TOP_UP_SHARE = 0.93
# Left unused beyond this share of the budget, a run that stops because every search converged says so.
IDLE_SHARE = 0.1


@dataclass(frozen=True)
class Searched:
    """One candidate's search, as it ended."""

    candidate: Candidate
    best: CVResult  # the best complete trial
    trials: int  # trials run, the defaults' included: what training.tuning.plan replays
    pruned: int
    cv_s: float  # seconds the defaults' cross-validation took
    others: tuple[CVResult, ...] = ()  # the next best complete trials, best first, that the blend may draw on


@dataclass(frozen=True)
class Tuned:
    searched: dict[str, Searched]  # the candidates whose defaults finished, in the project's order
    planned: dict[str, int]  # the first plan: top-up rounds add to it, a safety stop cuts it
    dropped: dict[str, str]  # screened out, or cut by the safety stop, before their defaults finished (late tries too)
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
    cv_seconds = defaults.cv_seconds
    if deadline is not None and defaults.searches:  # the defaults ranked them: reserve what the plan reserves
        deadline = safety_deadline(defaults.searches, pool.scope, ctx)
    # The first search ran its defaults without a deadline, so there is a model whatever the clock says; every
    # trial after the defaults runs under it. Each search continues as a copy that carries the deadline.
    searches = {name: replace(search, deadline=deadline) for name, search in defaults.searches.items()}
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
        planned = first_plan(cv_seconds, caps.trials, seconds=seconds_to_tune(searches, pool.scope, ctx),
                             total=ctx.spec.tuning.trials)
    tuning_s, tuning_stop = tune(searches, planned, ctx, pool.scope)
    safety_stop = defaults.safety_stop or tuning_stop
    dropped: dict[str, str] = {}
    if caps is not None and safety_stop is None:
        topped = top_up(searches, cv_seconds, tuning_s, caps=caps.trials, pool=pool, ctx=ctx)
        safety_stop, remarks, dropped = topped.safety_stop, [*remarks, *topped.remarks], topped.dropped
    order = pool.order or [c.name for c in pool.candidates]  # the project's order, as a replay runs them
    searched = {name: Searched(searches[name].candidate, searches[name].best, searches[name].trials_run,
                               searches[name].pruned, cv_seconds[name], searches[name].others)
                for name in order if name in searches and searches[name].best is not None}
    return Tuned(searched, planned, {**defaults.dropped, **dropped}, remarks, safety_stop)


def run_defaults(pool: Pool, ctx: Context, deadline: float | None) -> Defaults:
    """Trial 0 of every candidate. The first always finishes, so there is a model whatever the clock says, and so
    does one estimated under TRIVIAL_S, so an expensive one cut before it does not cost it its place. An expensive
    candidate whose first folds fall far behind the leader stops there (see `screen`)."""
    searches: dict[str, CandidateSearch] = {}
    cv_seconds: dict[str, float] = {}
    dropped: dict[str, str] = {}
    safety_stop = None
    for candidate in pool.candidates:
        ctx.progress(f"cross-validating {candidate.name}")
        estimate_s = pool.estimates.get(candidate.name, (0.0, 0.0))[0]
        cut = deadline if searches and estimate_s >= TRIVIAL_S else None
        search, seconds = first_trial(candidate, searches, estimate_s, deadline=cut, scope=pool.scope, ctx=ctx)
        if search.screened is not None:
            dropped[candidate.name] = screened_why(search, searches, estimate_s, primary=ctx.primary)
            continue
        if search.best is None:
            dropped[candidate.name] = "its cross-validation did not finish within the budget (safety stop)"
            safety_stop = safety_stop or f"{candidate.name} cut at {ctx.elapsed():.0f} s"
            continue
        searches[candidate.name] = search
        cv_seconds[candidate.name] = seconds
        log.info("%s defaults: CV %s %.4g in %.1f s", candidate.name, ctx.primary, search.best.primary_mean,
                 cv_seconds[candidate.name])
    return Defaults(searches, cv_seconds, dropped, safety_stop)


def too_few_trials(ctx: Context, *, candidates: int) -> list[str]:
    trials = ctx.spec.tuning.trials
    if trials is None or trials >= candidates:
        return []
    return [f"training.tuning.trials {trials} is below the number of candidates; each still had its defaults "
            f"cross-validated"]


def tuning_caps(searches: dict[str, CandidateSearch], ctx: Context) -> Caps:
    """Trials worth running per candidate in this budget; only the best few by their defaults are tuned."""
    caps = {name: trial_cap(s, ctx) for name, s in searches.items()}
    tunable = [name for name in ranked(searches, ctx.primary) if caps[name] > 1]
    close = set(did_well({name: searches[name].best for name in tunable}, ctx.primary,  # type: ignore[misc]
                         margin=TUNED_WITHIN))
    leaders = [name for name in tunable if name in close][:TUNED_LEADERS]
    if len(leaders) == len(tunable):
        return Caps(caps, [])
    rest = [name for name in tunable if name not in leaders]
    caps |= dict.fromkeys(rest, 1)
    best = f"the {len(leaders)} best by their defaults" if len(leaders) > 1 else "the best by its defaults"
    return Caps(caps, [f"tuning time went to {best}, within {TUNED_WITHIN:.0%} of the best one's error "
                       f"({', '.join(leaders)}); {', '.join(rest)} kept {'its' if len(rest) == 1 else 'their'} "
                       f"defaults"])


def trial_cap(search: CandidateSearch, ctx: Context) -> int:
    """Trials worth running for one candidate in this budget, before any cap is raised (`enough_trials`)."""
    return enough_trials(search.candidate, problem=ctx.case.problem, budget_s=ctx.budget.seconds)


def first_plan(cv_seconds: dict[str, float], caps: dict[str, int], *, seconds: float, total: int | None
               ) -> dict[str, int]:
    """Trials per candidate within `seconds`, pricing every tuned trial like the defaults' cross-validation."""
    trial_s = {name: cv_s * TUNED_COST for name, cv_s in cv_seconds.items()}
    return plan_trials(trial_s, caps=caps, seconds=seconds, total=total)


def tune(searches: dict[str, CandidateSearch], planned: dict[str, int], ctx: Context, scope: SearchScope
         ) -> tuple[dict[str, float], str | None]:
    """Run each candidate's search up to its planned trials: the seconds each spent tuning, and the safety stop
    if the deadline cut one. The deadline is set again before every trial, from the leaders' best trials so far:
    on diamonds at one minute a tuned CatBoost grew 1,975 trees where its defaults kept far fewer, and its next
    trials ran up to a deadline priced from the defaults; the final fit then ended the stage at 67 s. One trial at
    a time continues the same study, so the trials asked are those of one call (a replay runs its plan whatever
    the clock says)."""
    spent = dict.fromkeys(searches, 0.0)
    safety_stop = None
    for name, search in searches.items():
        if planned[name] <= search.trials_run or search.stopped:
            continue
        ctx.progress(f"cross-validating {name}: tuning, {planned[name] - search.trials_run} more trials")
        began = time.perf_counter()
        while search.trials_run < planned[name] and not search.stopped:
            if ctx.replay is None:
                search.deadline = safety_deadline(searches, scope, ctx)
            ran = search.trials_run
            search.run(ran + 1)
            if search.trials_run == ran and not search.stopped:  # nothing left to ask (no space to tune)
                break
        spent[name] = time.perf_counter() - began
        if search.stopped and not safety_stop:
            safety_stop = (f"tuning stopped at {ctx.elapsed():.0f} s of a {duration(ctx.budget.seconds)} budget "
                           f"during {name}; the plan below is what ran and replays this model")
    return spent, safety_stop


@dataclass(frozen=True)
class TopUp:
    safety_stop: str | None  # the deadline cut a round
    remarks: list[str]  # caps raised, or why the search finished early
    dropped: dict[str, str] = field(default_factory=dict)  # candidates tried late (`late`) that did not finish


def top_up(searches: dict[str, CandidateSearch], cv_seconds: dict[str, float], tuning_s: dict[str, float], *,
           caps: dict[str, int], pool: Pool, ctx: Context) -> TopUp:
    """Plan again from the time left, at the cost trials really had: the first plan prices every trial like
    the defaults' full cross-validation, and pruned trials cost a fraction of that. When every candidate has
    reached its cap with time to spare, the caps grow (`raised_caps`) rather than the budget idling, and when no
    cap is worth raising, the candidates the budget dropped before the search are tried (`late`); one that joins
    may then be tuned like any other. Each search continues its own seeded study, so the manifest's trial counts
    still replay this model in one round."""
    scope = pool.scope
    base = dict(caps)
    raised: list[str] = []
    waiting, late = bool(pool.late), Late()
    for _ in range(TOP_UP_ROUNDS):
        ran = {name: s.trials_run for name, s in searches.items()}
        trial_s = trial_seconds(searches, cv_seconds, tuning_s)
        left = seconds_to_tune(searches, scope, ctx, share=TOP_UP_SHARE)
        totals = plan_trials(trial_s, caps=caps, seconds=left, total=ctx.spec.tuning.trials, ran=ran)
        if totals == ran:
            if not affords_a_trial(trial_s, left) or total_reached(ran, ctx):
                break
            caps, why = raised_caps(searches, caps, base, ctx)
            base = growth_steps(base, caps)
            if not why and waiting:
                late, waiting = try_dropped(pool, searches=searches, cv_seconds=cv_seconds, ctx=ctx), False
                joined = {name: 1 for name in late.joined}
                caps, tuning_s = {**caps, **joined}, {**tuning_s, **dict.fromkeys(joined, 0.0)}
                base |= {name: trial_cap(searches[name], ctx) for name in joined}
                if joined:
                    continue
            if not why:
                break
            raised.append(why)
            totals = plan_trials(trial_s, caps=caps, seconds=left, total=ctx.spec.tuning.trials, ran=ran)
            if totals == ran:
                break
        spent, safety_stop = tune(searches, totals, ctx, scope)  # each under a deadline from the leaders so far
        if safety_stop:
            return TopUp(safety_stop, [*raised_remarks(raised), *late.remarks], late.dropped)
        tuning_s = {name: tuning_s[name] + spent[name] for name in searches}
    trial_s = trial_seconds(searches, cv_seconds, tuning_s)
    open_ = {name: seconds for name, seconds in trial_s.items()  # those that could still run a trial
             if searches[name].space and not searches[name].stopped and searches[name].trials_run < caps[name]}
    idle = [] if late.dropped else finished_early(searches, scope, ctx, trial_s=open_)  # the late try used it
    return TopUp(None, [*raised_remarks(raised), *late.remarks, *idle], late.dropped)


def trial_seconds(searches: dict[str, CandidateSearch], cv_seconds: dict[str, float], tuning_s: dict[str, float]
                  ) -> dict[str, float]:
    """What one more trial of each candidate costs: the mean of its trials so far (pruned ones included), or the
    defaults' cross-validation priced as a tuned trial before it had any."""
    return {name: tuning_s[name] / (s.trials_run - 1) if s.trials_run > 1 and tuning_s[name] > 0
            else cv_seconds[name] * TUNED_COST for name, s in searches.items()}


def affords_a_trial(trial_s: dict[str, float], seconds: float) -> bool:
    return bool(trial_s) and min(trial_s.values()) <= seconds


def total_reached(ran: dict[str, int], ctx: Context) -> bool:
    total = ctx.spec.tuning.trials
    return total is not None and sum(ran.values()) >= total


def raised_caps(searches: dict[str, CandidateSearch], caps: dict[str, int], base: dict[str, int], ctx: Context
                ) -> tuple[dict[str, int], str]:
    """More trials where they still pay, once every candidate has reached its cap and time is left: first the
    tuned candidates whose searches still improve (their cap grows by its base size), else the candidates that
    kept their defaults but are close enough to the best to join the blend (`did_well`), tuned to their own
    base cap. The new caps, and what was raised in words; no words when nothing is worth more trials."""
    improving = [name for name, s in searches.items()
                 if caps[name] > 1 and s.trials_run >= caps[name] and not s.stopped
                 and still_improving(s.history, ctx.primary, fold_scores=s.best.fold_scores if s.best else None)]
    if improving:
        grown = {**caps, **{name: caps[name] + base[name] for name in improving}}
        return grown, ", ".join(f"{name} {grown[name]}" for name in improving)
    in_reach = did_well({name: s.best for name, s in searches.items() if s.best is not None}, ctx.primary)
    kept_defaults = [name for name, s in searches.items()
                     if caps[name] == 1 and name in in_reach and s.space and not s.stopped
                     and trial_cap(s, ctx) > 1]
    if kept_defaults:
        opened = {name: trial_cap(searches[name], ctx) for name in kept_defaults}
        return {**caps, **opened}, ", ".join(f"{name} {cap}" for name, cap in opened.items())
    return caps, ""


def growth_steps(base: dict[str, int], caps: dict[str, int]) -> dict[str, int]:
    """What each cap grows by when it is raised again: its first cap, or, for a candidate that kept its defaults
    until `raised_caps` opened it, its opened cap, as for a candidate that joined late. Growing by its first cap of
    1 ran one trial a round (creditcard at one minute: extra trees raised from 16 to 24 in eight rounds, a note
    naming each)."""
    return {**base, **{name: cap for name, cap in caps.items() if base.get(name) == 1 < cap}}


def raised_remarks(raised: list[str]) -> list[str]:
    return [f"every candidate reached its trial cap with time left; caps raised where searches still improved "
            f"or had not been tuned: {'; then '.join(raised)}"] if raised else []


def finished_early(searches: dict[str, CandidateSearch], scope: SearchScope, ctx: Context, *,
                   trial_s: dict[str, float]) -> list[str]:
    """Why the search stopped with much of the budget unused: the trial total the project set, no next trial
    (`trial_s`: what one costs each search still open to more) fitting in what is left, or every search at its
    cap and no longer improving. Nothing when the budget confined the final fit to the searched rows: what is
    left widens it (`final_rows`), which says so."""
    if scope.confined_by_budget(ctx.spec):
        return []
    idle_s = seconds_to_tune(searches, scope, ctx, share=TOP_UP_SHARE)
    if idle_s <= IDLE_SHARE * ctx.budget.seconds:
        return []
    left = f"about {duration(idle_s)} of the {duration(ctx.budget.seconds)} budget left unused"
    ran = {name: s.trials_run for name, s in searches.items()}
    cheapest = min(trial_s, key=lambda name: trial_s[name], default=None)
    if cheapest is not None and trial_s[cheapest] > idle_s and not total_reached(ran, ctx):
        return [f"tuning stopped with {left} after the final fit's reserve: the cheapest next trial ({cheapest}, "
                f"about {duration(trial_s[cheapest])}) would not fit in it"]
    if total_reached(ran, ctx):
        return [f"finished early: the {ctx.spec.tuning.trials} trials training.tuning.trials allows have run; "
                f"{left}"]
    trials = ", ".join(f"{name} {count}" for name, count in ran.items())
    return [f"finished early: every candidate reached its trial cap and its search stopped improving ({trials} "
            f"trials); {left}"]

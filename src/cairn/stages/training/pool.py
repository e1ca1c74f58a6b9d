"""Which candidates compete: within their row limits, then those a recorded plan names, or those whose estimated
cross-validation and final fit fit the budget (searching fewer rows when that lets more of them in). A table
wider than the budget affords is screened first (`screening`), so every candidate is timed on the inputs it will
really see; when no estimate fits, the cheapest runs alone rather than the run being refused (within
`OVERRUN_AT_MOST` budgets)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cairn.errors import ConfigError
from cairn.stages.selection import Candidate
from cairn.stages.training.budget import (
    PLAN_SHARE,
    TIMED_FIT_AT_LEAST_S,
    TIMED_FIT_SHARE,
    TUNED_COST,
    Budget,
    CostEstimate,
    affordable,
    cheaper_search,
    duration,
    estimate_cost,
    missed,
    over_budget,
    search_of,
)
from cairn.stages.training.context import Context
from cairn.stages.training.scope import SearchScope, resampled
from cairn.stages.training.screening import screened

log = logging.getLogger(__name__)

# A family learning many-level categories with its own statistics only because models.native_categories is auto
# gets this share of the timed fit's limit: when it cannot converge in that, it would not fit the budget either,
# and the time goes to timing it on target means instead (`target_means_instead`). With the full limit, chem97 at
# one minute spent 3 s finding its ordered statistics would take 11 min, then had 4 s too few for CatBoost at all.
NATIVE_TIMING_SHARE = 1 / 3


@dataclass(frozen=True)
class Pool:
    candidates: list[Candidate]  # those that compete, in the candidates' order
    estimates: dict[str, tuple[float, float]]  # name -> estimated seconds of (one CV, the final fit); none on replay
    scope: SearchScope  # the scope handed in, or the smaller search the budget chose
    dropped: dict[str, str]  # candidate -> why it does not compete
    remarks: list[str] = field(default_factory=list)
    features: list[str] | None = None  # the inputs the wide-table screen kept, when it dropped some
    late: list[Candidate] = field(default_factory=list)  # dropped by the budget: tried if time is left (`late`)
    late_remarks: dict[str, str] = field(default_factory=dict)  # what to say of a late candidate if it joins
    order: list[str] = field(default_factory=list)  # every candidate timed, in the project's order

    @property
    def refit_reserve_s(self) -> float:
        """The safety stop's reserve while the defaults run, before they rank the leaders: every candidate's
        estimated final fit (`standing.safety_deadline` replaces it once they have)."""
        return sum(self.estimates.get(c.name, (0.0, 0.0))[1] for c in self.candidates) * TUNED_COST


@dataclass(frozen=True)
class Priced:
    """Who fits the budget at one search size."""

    estimates: list[CostEstimate]  # every candidate's, at the scope's searched rows and final-fit rows
    kept: list[str]
    dropped: dict[str, str]
    scope: SearchScope
    remarks: list[str] = field(default_factory=list)


def competing(candidates: list[Candidate], scope: SearchScope, ctx: Context) -> Pool:
    """The candidates that go on to cross-validation, and why each other one does not. The screen reads the
    data and the budget, not the clock, so a replayed plan sees the same inputs."""
    inputs = len(scope.plan.features)
    scope, screening = screened(scope, budget=ctx.budget)
    features, remarks = None, []
    if screening is not None:
        ctx.progress(f"screened {inputs:,} inputs to {len(screening.kept):,}")
        features = screening.kept
        remarks = screening.remarks(total=inputs, budget=ctx.budget, searched_rows=scope.split.rows_searched())
    within, dropped = within_row_limits(candidates, rows=len(scope.data.y))
    if ctx.replay is not None:
        kept, unplanned = replayed(within, ctx.replay, names=[c.name for c in candidates])
        return Pool(kept, {}, scope, {**dropped, **unplanned}, remarks, features)
    pool = affordable_pool(within, scope, ctx)
    return replace(pool, dropped={**dropped, **pool.dropped}, remarks=[*remarks, *pool.remarks], features=features)


def within_row_limits(candidates: list[Candidate], *, rows: int) -> tuple[list[Candidate], dict[str, str]]:
    kept, dropped = [], {}
    for candidate in candidates:
        if candidate.max_rows is not None and rows > candidate.max_rows:
            dropped[candidate.name] = (f"{rows:,} training rows; the default list keeps it under "
                                       f"{candidate.max_rows:,} (name it in models.candidates to keep it)")
        else:
            kept.append(candidate)
    return kept, dropped


def replayed(pool: list[Candidate], replay: dict[str, int], *, names: list[str]
             ) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates a recorded plan gives a trial; a plan naming a model that does not compete, or none that
    does, is a ConfigError."""
    unknown = [name for name in replay if name not in names]
    if unknown:
        raise ConfigError.single(
            "training.tuning.plan names a model that does not compete.", where=f"training.tuning.plan.{unknown[0]}",
            expected=f"one of the candidates ({', '.join(names)})", got=unknown[0],
            fix=f"add {unknown[0]} to models.candidates, or remove it from the plan",
        )
    kept = [candidate for candidate in pool if replay.get(candidate.name, 0) >= 1]
    dropped = {c.name: "not in training.tuning.plan" for c in pool if replay.get(c.name, 0) < 1}
    if not kept:
        raise ConfigError.single(
            "training.tuning.plan leaves no model to train.", where="training.tuning.plan",
            expected="at least one candidate with one trial or more", got=str(dict(replay)),
            fix="copy the plan from a run's manifest, or remove training.tuning.plan",
        )
    return kept, dropped


def affordable_pool(pool: list[Candidate], scope: SearchScope, ctx: Context) -> Pool:
    """Time a short fit of each candidate and keep those whose cross-validation and final fit fit what is left."""
    ctx.progress("timing a sample fit of each candidate")
    limit_s = max(TIMED_FIT_AT_LEAST_S, ctx.budget.seconds * TIMED_FIT_SHARE)

    def timed(candidate: Candidate) -> CostEstimate:
        limit = limit_s * NATIVE_TIMING_SHARE if candidate.native_by_default else limit_s
        estimate = estimate_cost(candidate, scope.data, limit_s=limit,
                                 afford_s=ctx.budget.seconds * PLAN_SHARE - ctx.elapsed())
        if scope.fit_searched_rows:  # the final fit's rows, not all
            estimate = replace(estimate, refit_s=estimate.fit_s(scope.fit_row_count()))
        return estimate

    estimates = [timed(candidate) for candidate in pool]
    left = ctx.budget.seconds * PLAN_SHARE - ctx.elapsed()
    kept, dropped = affordable(estimates, budget=ctx.budget, seconds_left=left, folds=len(scope.split.folds),
                               keep_cheapest=True)
    folds = len(scope.split.folds)
    pool, estimates, encodings = target_means_instead(pool, estimates, dropped, timed=timed, folds=folds)
    if encodings:
        left = ctx.budget.seconds * PLAN_SHARE - ctx.elapsed()
        kept, dropped = affordable(estimates, budget=ctx.budget, seconds_left=left, folds=folds, keep_cheapest=True)
    priced = Priced(estimates, kept, dropped, scope, [why for name, why in encodings.items() if name in kept])
    if dropped:
        priced = smaller_search(priced, left=left, budget=ctx.budget, seed=ctx.seed,
                                boosted=frozenset(c.name for c in pool if c.boosted))
    for name, why in priced.dropped.items():
        log.info("dropped %s: %s", name, why)
    overrun = over_budget(priced.estimates, priced.kept, budget=ctx.budget, seconds_left=left)
    return Pool([c for c in pool if c.name in priced.kept], {e.name: (e.cv_s, e.refit_s) for e in priced.estimates},
                priced.scope, priced.dropped, [*priced.remarks, *([overrun] if overrun else [])],
                late=[c for c in pool if c.name in priced.dropped],
                late_remarks={name: why for name, why in encodings.items() if name in priced.dropped},
                order=[c.name for c in pool])


def target_means_instead(pool: list[Candidate], estimates: list[CostEstimate], dropped: dict[str, str], *,
                         timed: Callable[[Candidate], CostEstimate], folds: int
                         ) -> tuple[list[Candidate], list[CostEstimate], dict[str, str]]:
    """A family learning many-level categories with its own statistics only because models.native_categories is
    auto (CatBoost, LightGBM), that the budget would drop that way, is timed again on the out-of-fold target means
    the other families get, and competes with those: on hotel_rates at one minute CatBoost's ordered statistics
    priced its CV at 3.8 min. Returns the pool, the estimates and what to say of each family switched (said only
    if it then competes); as they were when no such family is dropped."""
    swapped = {c.name: replace(c, native_categories=False, native_by_default=False) for c in pool
               if c.name in dropped and c.native_by_default}
    if not swapped:
        return pool, estimates, {}
    again = {name: timed(candidate) for name, candidate in swapped.items()}
    still = [c.name for c in pool if c.native_categories and c.name not in swapped]  # a replay keeps them native
    setting = f"[{', '.join(still)}]" if still else "false"
    remarks = {e.name: f"{e.name} reads the many-level categories as out-of-fold target means, as the other "
                       f"families do: learning them as categories itself was estimated at "
                       f"{duration(e.cv_s)} for {search_of(folds)}, beyond the budget; to replay this run with "
                       f"training.tuning.plan, also set models.native_categories: {setting}"
               for e in estimates if e.name in swapped}
    return ([swapped.get(c.name, c) for c in pool], [again.get(e.name, e) for e in estimates], remarks)


def smaller_search(priced: Priced, *, left: float, budget: Budget, seed: int, boosted: frozenset[str]) -> Priced:
    """`cheaper_search`'s choice, when it misses less (`missed`; `boosted` names the boosters): the folds
    resampled, the judged model fitted on the searched rows (widened later to what the time left affords:
    `final_rows`), and a note that says how to replay the sample. Otherwise `priced` as it was."""
    scope = priced.scope
    searched = scope.split.rows_searched()
    choice = cheaper_search(priced.estimates, searched=searched, fold_rows=scope.data.fold_rows,
                            training_rows=len(scope.data.y), folds=len(scope.split.folds), budget=budget,
                            seconds_left=left, fit_searched=scope.fit_searched_rows, boosted=boosted)
    log.debug("at %d searched rows %s dropped; at %d rows (fit on them: %s) %s dropped", searched,
              sorted(priced.dropped), choice.rows, choice.fit_searched, sorted(choice.dropped))
    smaller, as_priced = ((over_budget(option.estimates, option.kept, budget=budget, seconds_left=left) is not None,
                           *missed(option.dropped, option.kept, boosted)) for option in (choice, priced))
    if smaller >= as_priced:
        return priced  # nothing gained: keep the plan as it was
    replay, remarks = [], []
    if choice.rows < searched:
        replay.append(f"training.search_rows: {choice.rows}")
        if scope.split.one_fold:  # decided on the rows training.search_rows allowed: fewer could decide otherwise
            replay.append("training.validation: one_fold")
        scope = resampled(scope, rows=choice.rows, seed=seed)
    if choice.fit_searched and not scope.fit_searched_rows:  # how many rows it gets in the end: `final_rows`
        scope = replace(scope, fit_searched_rows=True)
    if replay:
        remarks.append(f"to replay this run with training.tuning.plan, also set {' and '.join(replay)}")
    return Priced(choice.estimates, choice.kept, choice.dropped, scope, [*priced.remarks, *remarks])

"""Where the search stands, read again as trials finish: the candidates ranked by their best trial so far, what
the final fit would refit if the search ended now and the reserve its refits need, the deadline tuning stops at,
and the screen that stops a candidate far behind the leader after its first folds.
"""

from __future__ import annotations

import time

from cairn.metrics.scoring import lower_is_better
from cairn.stages.selection import Candidate
from cairn.stages.training.budget import (
    PLAN_SHARE,
    STOP_SHARE,
    TUNED_COST,
    Budget,
    screen_behind,
    screened_reason,
    worth_screening,
)
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import fit_and_copies_s
from cairn.stages.training.ensemble import greedy_weights
from cairn.stages.training.scope import SearchScope
from cairn.stages.training.trial_library import trials_kept
from cairn.stages.training.tuning import CandidateSearch, Screen


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


def first_trial(candidate: Candidate, searches: dict[str, CandidateSearch], estimate_s: float, *,
                deadline: float | None, scope: SearchScope, ctx: Context) -> tuple[CandidateSearch, float]:
    """A candidate's defaults (trial 0) under `deadline`, screened against the leader of `searches` when its
    estimate makes that worth it, and the seconds they took: its `best` is None when the deadline cut it, and
    its `screened` set when the screen stopped it."""
    data = scope.data
    others = trials_kept(ctx.spec.blend_trials, ensemble=ctx.spec.ensemble, rows=len(data.y),
                         classes=len(data.classes) if data.classes is not None else 1)
    search = CandidateSearch(candidate, data, ctx.seed, deadline=deadline, keep_others=others)
    began = time.perf_counter()
    search.run_defaults(screen=screen(searches, estimate_s, primary=ctx.primary, budget=ctx.budget))
    return search, time.perf_counter() - began


def ranked(searches: dict[str, CandidateSearch], primary: str) -> list[str]:
    """Candidates best first by their best trial so far (ties keep the candidates' order)."""
    return sorted(searches, key=lambda n: searches[n].best.primary_mean,  # type: ignore[union-attr]
                  reverse=not lower_is_better(primary))


def seconds_to_tune(searches: dict[str, CandidateSearch], scope: SearchScope, ctx: Context, *,
                    share: float = PLAN_SHARE) -> float:
    """What a plan may fill: its share of the budget, less the time gone and the reserve."""
    return ctx.budget.seconds * share - ctx.elapsed() - reserve_s(searches, scope, ctx)


def safety_deadline(searches: dict[str, CandidateSearch], scope: SearchScope, ctx: Context) -> float:
    """When tuning must stop whatever its plan says: the safety stop's share of the budget, less the reserve.
    Set again before every trial (`tune`), since the reserve prices the leaders' best trials so far:
    on diamonds a tuned CatBoost grew deeper trees than its defaults, and a deadline kept from the defaults left its
    final fit 11,000 of 34,428 rows."""
    return ctx.started + ctx.budget.seconds * STOP_SHARE - reserve_s(searches, scope, ctx)


def reserve_s(searches: dict[str, CandidateSearch], scope: SearchScope, ctx: Context) -> float:
    """What must stay free after tuning: the refit of the models the final fit would fit if the search ended now
    (`refitted`), each priced from its best trial so far (`refit_cost`) with a tuned trial's margin. Learning
    curves get no reserve: they are drawn with what the search leaves (on hotel_rates at one minute, reserving
    their 10 s left LightGBM and CatBoost no tuned trial at all).
    When the budget confined the final fit, the refits are priced on every training row, not the searched ones:
    rows pay more than trials (mplsstops at one minute raised extra trees' cap to 16 trials, then fitted the model
    on 13,000 of 33,228).
    It also reserves time for the seed copies training.refit_seeds asks of the boosters among them
    (`copy_reserve`), or of the model training.final_model names, the only one then copied."""
    fitted = scope.on_every_row() if scope.confined_by_budget(ctx.spec) else scope
    names = refitted(searches, scope, ctx)
    copied = [ctx.spec.final_model] if ctx.spec.final_model in names else None
    return fit_and_copies_s(names, searches, fitted, ctx, copied=copied) * TUNED_COST


def refitted(searches: dict[str, CandidateSearch], scope: SearchScope, ctx: Context) -> list[str]:
    """The models the final fit would refit if the search ended now: the members of the blend the leaderboard
    would build from the best trials so far (`greedy_weights`), and the best one (a blend trimmed of its light
    members may lose to it), and the model training.final_model names. Reserving the best three instead held back
    the refit of a model no blend wanted: on chem97 at one minute extra trees (log loss 1.69 against 1.45) was
    priced at 14 s, the safety stop cut tuning at 34 s and training ended at 42 s of 60."""
    names = ranked(searches, ctx.primary)[:1]
    if ctx.spec.ensemble and len(searches) >= 2:
        results = {name: search.best for name, search in searches.items()}
        bests, members = ctx.memo.get("blend", ({}, []))  # the last blend, and the best trials it was built from
        if bests.keys() != results.keys() or any(bests[name] is not best for name, best in results.items()):
            members = list(greedy_weights(results, scope.data))  # type: ignore[arg-type]
            ctx.memo["blend"] = (results, members)
        names += members
    if ctx.spec.final_model is not None and ctx.spec.final_model in searches:
        names.append(ctx.spec.final_model)
    return list(dict.fromkeys(names))

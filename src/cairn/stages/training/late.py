"""Candidates the budget dropped before the search, tried with the time a search that converged early left.

The pool drops a candidate whose estimated cross-validation and final fit do not fit the time left
(`pool.affordable_pool`). Where its timed sample fit did not finish, that estimate is an extrapolation, and it
can be far too high: on penguins at one minute CatBoost was estimated at 44 s for 5-fold CV and dropped, the
search of the others converged with 33-52 s unused, and CatBoost alone, fitted on the same rows, scored a
holdout log loss of 0.031 against the blend's 0.047. Time that would idle costs nothing, so each such candidate,
cheapest estimate first, runs its defaults under a deadline that keeps its own final fit free on top of the
current reserve; cut by that deadline, or screened out behind the leader, it stays dropped and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cairn.stages.training.budget import TUNED_COST, duration, search_of
from cairn.stages.training.context import Context
from cairn.stages.training.pool import Pool
from cairn.stages.training.standing import first_trial, safety_deadline, screened_why
from cairn.stages.training.tuning import CandidateSearch

# Tried only when the time to its deadline is at least this share of its estimated cross-validation: below it,
# even an estimate three times too high would not let it finish.
WORTH_TRYING = 1 / 3


@dataclass
class Late:
    """What the late tries did: those that finished joined `searches` (their seconds in `cv_seconds`)."""

    joined: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # tried and not finished: why, for the notes
    remarks: list[str] = field(default_factory=list)


def try_dropped(pool: Pool, *, searches: dict[str, CandidateSearch], cv_seconds: dict[str, float],
                ctx: Context) -> Late:
    """Run the defaults of each candidate in `pool.late` (dropped by the budget, not tried yet) that the time left
    may fit, cheapest estimate first; those that finish are added to `searches` and `cv_seconds`."""
    done = Late()
    scope = pool.scope
    folds = len(scope.split.folds)
    # A final fit the budget confined is reserved a fit on every row (`standing.reserve_s`); so is this one.
    widened = len(scope.data.y) / scope.fit_row_count() if scope.confined_by_budget(ctx.spec) else 1.0
    for candidate in sorted(pool.late, key=lambda c: pool.estimates.get(c.name, (0.0, 0.0))[0]):
        cv_s, refit_s = pool.estimates.get(candidate.name, (0.0, 0.0))
        deadline = safety_deadline(searches, scope, ctx) - refit_s * widened * TUNED_COST
        left = deadline - time.perf_counter()
        if left < cv_s * WORTH_TRYING:
            continue
        ctx.progress(f"cross-validating {candidate.name} with the time the search left")
        search, seconds = first_trial(candidate, searches, cv_s, deadline=deadline, scope=scope, ctx=ctx)
        tried = (f"estimated at {duration(cv_s)} for {search_of(folds)}, it was tried with the "
                 f"{duration(left)} the search left")
        if search.screened is not None:
            done.dropped[candidate.name] = f"{tried}: {screened_why(search, searches, cv_s, primary=ctx.primary)}"
        elif search.best is None:
            done.dropped[candidate.name] = f"{tried}, and did not finish in it"
        else:
            searches[candidate.name], cv_seconds[candidate.name] = search, seconds
            done.joined.append(candidate.name)
            done.remarks += [f"{candidate.name} competes after all: {tried} and took {duration(seconds)}",
                             *([pool.late_remarks[candidate.name]] if candidate.name in pool.late_remarks else [])]
    return done

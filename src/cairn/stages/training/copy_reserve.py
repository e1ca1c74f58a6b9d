"""The time the search keeps for the final fit and the seed copies (`seed_copies`) training.refit_seeds asks for.

`training.refit_seeds: N` fits each booster of the chosen model N times whatever the clock says (a mapping, the
members it names). So the search keeps time for the copies as it keeps time for the final fit (`standing.reserve_s`),
and so do the steps between them (`final_rows`, the learning curves): all price both with `fit_and_copies_s`, and
the stage then stays within its budget. `auto` gets no such reserve: its copies use only the time the search
leaves unused.

Why auto gets none was measured: keeping auto's copies their time too (up to 5 fits, within a fifth of the budget)
was run at one minute on the 18 bench sets, twice, beside the same code without it in one session. Copies then ran
on 13 sets instead of 6, but the trials the search gave up for them cost as much as the copies gained (5 sets
better, 5 worse, 8 the same); the one-row p99 grew on 7 sets (up to 6x), and training was within 10% of its budget
on 8 sets instead of 11 (the time kept went unused where the latency bound stopped the copies early).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from cairn.stages.selection import Candidate
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import CVResult
from cairn.stages.training.refit_cost import refit_s
from cairn.stages.training.scope import SearchScope
from cairn.stages.training.trial_library import family_of


class Refittable(Protocol):
    """A candidate and its best trial: a search under way (`CandidateSearch`) or done (`Searched`)."""

    @property
    def candidate(self) -> Candidate: ...

    @property
    def best(self) -> CVResult | None: ...


def final_fit_s(names: list[str], models: Mapping[str, Refittable], scope: SearchScope) -> float:
    """Estimated seconds of the final fit of `names` on the scope's fit rows, each priced from its best trial
    (`refit_cost`: the very parameters refit, so no tuned trial's margin)."""
    return sum(refit_s(models[name].candidate, models[name].best, scope)  # type: ignore[arg-type]
               for name in names)


def fit_and_copies_s(names: list[str], models: Mapping[str, Refittable], scope: SearchScope, ctx: Context, *,
                     copied: list[str] | None = None) -> float:
    """`final_fit_s` of `names`, and of the seed copies training.refit_seeds asks of the boosters among `copied`
    (all of `names` unless said; auto: none)."""
    boosters = [name for name in (names if copied is None else copied)
                if models[name].candidate.algorithm.varies_with_seed]
    return final_fit_s(names, models, scope) + sum(
        count * final_fit_s([name], models, scope) for name, count in _copies(ctx.spec.refit_seeds, boosters).items())


def _copies(setting: str | int | Mapping[str, int], boosters: list[str]) -> dict[str, int]:
    """The copies training.refit_seeds asks of each of `boosters`. A mapping may name a family's trial
    (`lightgbm#2`) that the search under way cannot name yet: its copies are priced as its family's."""
    copies = {name: fits_asked(setting, name) - 1 for name in boosters}
    if isinstance(setting, Mapping):
        for member, fits in setting.items():
            family = family_of(member)
            if member not in copies and family in copies:
                copies[family] += int(fits) - 1
    return copies


def fits_asked(setting: str | int | Mapping[str, int], member: str) -> int:
    """The fits training.refit_seeds asks of a booster in the chosen model, the first included: a number asks it
    of every booster, a mapping of the members it names (the others: 1); auto asks none (its copies take what time
    is left, `seed_copies`)."""
    if isinstance(setting, Mapping):
        return int(setting.get(member, 1))
    return 1 if setting == "auto" else int(setting)

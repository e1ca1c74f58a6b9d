"""The leaderboard whose blend may draw on each family's next best trials (`trial_library`), and the recipes every
later step reads its models from.

Their fits get no reserve from the search, only the time it left, as seed copies do (which come after them): the
search keeps back the fit of the families' blend alone (`standing.reserve_s`). A blend whose fit with them would
not end within the budget, or whose final fit is confined to fewer rows (more rows pay better than more members),
draws on each family's best trial alone, and the note says so and the setting that replays it
(training.blend_trials: 1). A recorded plan is replayed as it is: the same trials give the same library, and the
clock decides nothing. A blend needs two families, as before; it may then draw on the trials of one of them.

Reserving their fit too was tried at one minute beside the FLAML and AutoGluon sweep: the safety stop came earlier
on diamonds, hotel_rates and insteval, whose blends then did not fit their trial members anyway, and their search
took another path. Without a reserve, at one minute on the 18 bench sets, against the same code with
training.blend_trials: 1 in the same session, the blend drew on them on 9 sets: 5 scored better on the test rows
(ames MAPE 7.04% -> 6.98%, loans 3.657 -> 3.642, wage, txhousing, mplsstops), 3 worse (deliveries 1.928 -> 1.932,
creditcard AUC 0.8273 -> 0.8260, stackoverflow), default the same: a small gain, within what equal code moves
between runs, for up to 8 s more in the whole run and up to twice the one-row prediction time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.metrics.scoring import shown
from cairn.stages.training.budget import duration
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import fit_and_copies_s
from cairn.stages.training.leaderboard import ENSEMBLE, Leaderboard, leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope
from cairn.stages.training.trial_library import TRIAL_MARK, family_of, rank_of, with_trials


@dataclass(frozen=True)
class Library:
    """The leaderboard and the recipes every later step reads its models from."""

    board: Leaderboard
    models: dict[str, Searched]
    remarks: list[str] = field(default_factory=list)


def ranked_with_trials(searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> Library:
    """The leaderboard whose blend may draw on each family's next best trials, when its fit with them can be
    afforded (`_not_affordable`); otherwise the one of the families' best trials alone."""
    if not any(s.others for s in searched.values()):
        return Library(leaderboard(searched, scope, ensemble=ctx.spec.ensemble), searched)
    library = with_trials(searched)
    board = leaderboard(searched, scope, ensemble=ctx.spec.ensemble, library=library)
    members = [name for name in library if TRIAL_MARK in name and name in board.blend]
    fitted = board.chosen == ENSEMBLE or ctx.spec.final_model == ENSEMBLE  # the blend is what the final fit fits
    if not members or not fitted:
        return Library(board, library)
    described = _described(members, library, ctx.primary)
    why = None if ctx.replay is not None else _not_affordable(board, library, scope, ctx)
    if why is None:
        return Library(board, library, [f"the blend draws on trials other than a family's best: {described}"])
    return Library(leaderboard(searched, scope, ensemble=ctx.spec.ensemble), searched, [
        f"a blend drawing on trials other than a family's best ({described}) was not fitted: {why}; the blend "
        f"draws on each family's best trial alone; to replay this run with training.tuning.plan, also set "
        f"training.blend_trials: 1"])


def _described(trials: list[str], library: dict[str, Searched], primary: str) -> str:
    return ", ".join(f"{name} is {family_of(name)}'s trial ranked {rank_of(name)} (CV {primary} "
                     f"{shown(primary, library[name].best.primary_mean)})" for name in trials)


def _not_affordable(board: Leaderboard, library: dict[str, Searched], scope: SearchScope, ctx: Context
                    ) -> str | None:
    """Why the blend's fit with its trial members is not worth its time, or None when it ends within the budget
    (past the safety stop, which keeps a margin for estimates made before the search: these are priced from its
    trials)."""
    if scope.fit_searched_rows:
        return "the final fit is confined to fewer rows, and more rows pay better than more members"
    cost_s = fit_and_copies_s(board.members(ENSEMBLE), library, scope, ctx)
    left_s = ctx.budget.seconds - ctx.elapsed()
    if cost_s <= left_s:
        return None
    return f"its final fit was estimated at {duration(cost_s)}, with {duration(max(left_s, 0.0))} of the budget left"

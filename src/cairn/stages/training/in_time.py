"""Which model the holdout judges when the chosen one's final fit would end well past the budget even on the fewest
rows it may take: the best validated model whose fit finishes in time.

The search keeps time for the final fit of the blend its best trials so far would build, and its last trial can
change that blend (on insteval at one minute, to four members whose fit ended the stage at 76 s of 60). When the
search validated a sample, `final_rows` may confine such a fit to the searched rows and widen it as far as the time
left affords. So the fewest rows a final fit may take (`final_rows.fewest_rows`) are every row when the search
used them all, the searched rows when it validated a sample, or what training.final_fit sets. When the chosen
model's fit on those rows, with the seed copies training.refit_seeds asks for, is estimated to end more than
`final_rows.OVERRUN_AT_MOST` of the budget past the safety stop, the holdout judges instead the best validated
model whose fit does not; when none does, the chosen one stays and the run reports its time. training.final_model
replays the choice, as the note says.
"""

from __future__ import annotations

from cairn.metrics.scoring import shown
from cairn.stages.training.budget import duration
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import fit_and_copies_s
from cairn.stages.training.final_rows import fewest_rows, seconds_allowed
from cairn.stages.training.leaderboard import Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.rows_or_model import Chosen, pinned
from cairn.stages.training.scope import SearchScope


def in_time(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> Chosen:
    """The board whose first model is the one to fit and judge (see the module docstring); as it was when the
    project names training.final_model, a recorded plan is replayed or the chosen model's fit is in time."""
    if ctx.spec.final_model is not None or ctx.replay is not None:
        return Chosen(board, [])
    least = fewest_rows(scope, ctx)
    allowed_s = seconds_allowed(ctx)

    def cost_s(model: str) -> float:
        return fit_and_copies_s(board.members(model), searched, least, ctx)

    chosen = board.chosen
    chosen_s = cost_s(chosen)
    if chosen_s <= allowed_s:
        return Chosen(board, [])
    fitted = [s.model for s in board.scores[1:] if all(m in searched for m in board.members(s.model))]
    timely = next((model for model in fitted if cost_s(model) <= allowed_s), None)
    if timely is None:
        return Chosen(board, [])
    primary = ctx.primary
    score = {s.model: s.cv[primary][0] for s in board.scores}
    return Chosen(pinned(board, timely), [
        f"judged {timely} rather than {chosen}, the best validated ({primary} {shown(primary, score[chosen])} "
        f"against {shown(primary, score[timely])}): {chosen}'s final fit on {least.fit_row_count():,} rows was "
        f"estimated at {duration(chosen_s)}, {timely}'s at {duration(cost_s(timely))}, with "
        f"{duration(max(ctx.seconds_to_stop(), 0.0))} left before the safety stop; to replay this run with "
        f"training.tuning.plan, also set training.final_model: {timely}"])

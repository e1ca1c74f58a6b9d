"""How many training rows the judged model is fitted on, when the budget could not afford them all.

The plan reserves a final fit on the searched rows only when a fit on every row would not finish in time (see
`budget.cheaper_search`). By the time the search is done its real cost is known, and whatever the plan left unused
is better spent on rows than idled: on 209,500 flights at one minute the model was fitted on the 12,500 searched
rows while 10 s of the budget went unused. So the final fit takes the searched rows and as many more, drawn at
random, as the seconds left afford, priced from the chosen models' measured fit time per fold (`refit_cost`).
A final fit on every row that the search's last trials made too long for the time left is confined the same way
(`_confined_if_overrunning`).

Rows can also be bought with a larger learning rate: the boosters of the chosen model may take 2 or 4 times the
rate they were validated at, with as many times fewer trees, when that affords at least twice the rows
(`_rate_for_rows`). On large data the rows outweigh the finer steps, and a booster validated on a small sample has
often used every tree it was allowed (flights: rate 0.03, all 2,000 trees).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import fit_and_copies_s
from cairn.stages.training.leaderboard import Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

WORTH_AT_LEAST = 1.1  # more rows than this many times the searched ones, or the searched rows alone
ROUND_TO = 1_000  # the row count is rounded down to this, so the number a note asks to replay reads easily
RATE_BOOSTS = (2, 4)  # the boosters' final fit may take this many times the validated learning rate ...
ROWS_GAIN = 2.0  # ... when that affords at least this many times the rows the validated rate does ...
MAX_RATE = 0.3  # ... and no booster's rate grows past this
OVERRUN_AT_MOST = 0.1  # of the budget: a fit on every row estimated to end later than this past the stop is confined


@dataclass(frozen=True)
class FinalRows:
    scope: SearchScope  # the scope handed in, or one whose final fit takes more rows
    remarks: list[str]


def final_rows(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> FinalRows:
    """Widen a final fit the budget confined to the searched rows to what the time left affords, and say on how
    many rows the judged model was fitted and how to replay it. A project that set training.final_fit keeps it.
    A larger learning rate, raised here or set by training.final_rate_boost, is the judged model's alone: a
    runner-up refit for the holdout comparison keeps the rate it was validated at, in a run and in its replay."""
    rows = _final_rows(board, searched, scope, ctx)
    if rows.scope.rate_boost == 1:
        return rows
    families = frozenset(searched[m].candidate.name for m in board.members() if m in searched)
    return replace(rows, scope=replace(rows.scope, boost_only=families))


def _final_rows(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> FinalRows:
    scope = _confined_if_overrunning(board, searched, scope, ctx)
    if not scope.confined_by_budget(ctx.spec):
        return FinalRows(scope, _set_rate_words(board, searched, scope))
    total, searched_rows = len(scope.data.y), scope.split.rows_searched()
    left_s = ctx.seconds_to_stop()
    scope, rows, plain = _rate_for_rows(board, searched, scope, left_s=left_s, ctx=ctx)
    if rows < searched_rows * WORTH_AT_LEAST:
        return FinalRows(scope, [f"the model the holdout judges was fitted on the {searched_rows:,} searched rows, "
                                 f"not all {total:,}: a fit on every row would not finish in time; to replay this "
                                 f"run with training.tuning.plan, also set training.final_fit: searched_rows"])
    rate = _rate_words(board, searched, scope, plain=plain)
    also = f" and training.final_rate_boost: {scope.rate_boost}" if scope.rate_boost > 1 else ""
    if rows >= total and scope.rate_boost == 1:  # as if the budget had never confined it
        return FinalRows(scope.on_every_row(), [
            f"the model the holdout judges was fitted on all {total:,} training rows: the {left_s:.0f} s left "
            f"afforded them after all, though the plan had kept the time for the {searched_rows:,} searched rows "
            f"only"])
    if rows >= total:  # deployment may refit on every row too, at the same rate
        return FinalRows(scope.on_every_row(), [
            f"the model the holdout judges was fitted on all {total:,} training rows{rate}; to replay this run "
            f"with training.tuning.plan, also set training.final_rate_boost: {scope.rate_boost}"])
    widened = replace(scope, fit_rows_count=rows)
    return FinalRows(widened, [
        f"the model the holdout judges was fitted on {rows:,} of the {total:,} training rows (the {searched_rows:,} "
        f"searched and {rows - searched_rows:,} more, as many as the {left_s:.0f} s left afforded){rate}: a fit on "
        f"every row would not finish in time; to replay this run with training.tuning.plan, also set "
        f"training.final_fit: {rows}{also}"])


def _rate_for_rows(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, *, left_s: float,
                   ctx: Context) -> tuple[SearchScope, int, int]:
    """The scope whose boosters take RATE_BOOSTS times their learning rate, with as many times fewer trees, when
    that affords at least ROWS_GAIN times the rows the validated rate does: the first boost that affords every
    row, else the largest that gains. On large data rows outweigh the finer steps: on 209,500 flights at one
    minute LightGBM (validated at rate 0.03 on 6,250 rows, early stopping at its 2,000-tree cap) fitted in 12 s
    on 48,000 rows at 0.03 scored test RMSE 5.14, on 100,000 at 0.06 4.00, and on every row at 0.12 3.60
    (0.24 on every row, in 7 s: 4.08). With the scope: the rows it affords, and those the validated rate does."""
    members = board.members()
    plain = affordable_rows(members, searched, replace(scope, rate_boost=1), left_s=left_s, ctx=ctx)
    total = len(scope.data.y)
    if ctx.spec.final_rate_boost != "auto":  # set: the rows it affords
        return scope, affordable_rows(members, searched, scope, left_s=left_s, ctx=ctx), plain
    if plain >= total:
        return scope, plain, plain
    chosen, rows = scope, plain
    for boost in RATE_BOOSTS:  # priced on the members alone: `final_rows` then keeps the rate to their families
        boosted = replace(scope, rate_boost=boost)
        raised = [m for m in members if boosted.boosts(searched[m].candidate, searched[m].best.params)]
        if not raised or any(searched[m].best.params[_rate(searched[m])] * boost > MAX_RATE for m in raised):
            break
        afforded = affordable_rows(members, searched, boosted, left_s=left_s, ctx=ctx)
        if afforded >= plain * ROWS_GAIN:
            chosen, rows = boosted, afforded
            if afforded >= total:
                break
    return chosen, rows, plain


def _rate(model: Searched) -> str:
    return model.candidate.algorithm.rate_param or ""


def _raised_rates(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope) -> str:
    """The judged model's boosters whose learning rate the scope raises, with the rates they take ("" for none)."""
    return ", ".join(f"{m} {searched[m].best.params[_rate(searched[m])] * scope.rate_boost:.3g}"
                     for m in board.members() if scope.boosts(searched[m].candidate, searched[m].best.params))


def _set_rate_words(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope) -> list[str]:
    """A word when training.final_rate_boost raised the rate of a final fit the budget did not confine: the set
    rate applies all the same, and the notes say what it did."""
    rates = _raised_rates(board, searched, scope)
    if not rates:
        return []
    return [f"the judged model's boosters were fitted at {scope.rate_boost} times the validated learning rate "
            f"({rates}) and 1/{scope.rate_boost} of the trees, as training.final_rate_boost: {scope.rate_boost} sets"]


def _rate_words(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, *, plain: int) -> str:
    """What the raised learning rate was, for the note: empty when it was not raised."""
    rates = _raised_rates(board, searched, scope)
    if not rates:
        return ""
    searched_rows = scope.split.rows_searched()
    afforded = (f"{plain:,} rows" if plain > searched_rows else
                f"no more than the {searched_rows:,} searched rows")
    return (f", at {scope.rate_boost} times the validated learning rate ({rates}) and 1/{scope.rate_boost} of the "
            f"trees, where the validated rate afforded {afforded}")


def _confined_if_overrunning(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope,
                              ctx: Context) -> SearchScope:
    """The scope confined to the searched rows when its final fit on every row is estimated to end more than
    OVERRUN_AT_MOST of the budget past the safety stop: the search reserves that fit from the blend its best trials
    so far would build, and a last trial can change the blend (on insteval at one minute, a four-member blend's fit
    on the 46,988 rows, twice the searched 23,494, ended the stage at 76 s of 60, and the run missed its budget
    criterion). Only when it is `confinable`; a fit that overruns even on the searched rows has had a cheaper
    model judged instead (`in_time`, which runs first)."""
    if not confinable(scope, ctx):
        return scope
    if fit_and_copies_s(board.members(), searched, scope, ctx) <= seconds_allowed(ctx):
        return scope
    return replace(scope, fit_searched_rows=True)


def confinable(scope: SearchScope, ctx: Context) -> bool:
    """Whether a final fit on every row may still be confined to the searched rows: the search validated a sample,
    the project left training.final_fit at all_rows and no recorded plan is replayed (a replay sets the count)."""
    return (ctx.replay is None and not scope.fit_searched_rows and ctx.spec.final_fit == "all_rows"
            and scope.split.rows_searched() < len(scope.data.y))


def fewest_rows(scope: SearchScope, ctx: Context) -> SearchScope:
    """The scope of the fewest rows the final fit may take: the searched ones when it may be confined to them."""
    return replace(scope, fit_searched_rows=True) if confinable(scope, ctx) else scope


def seconds_allowed(ctx: Context) -> float:
    """What a final fit may be estimated to take before it counts as overrunning: the time to the safety stop and
    OVERRUN_AT_MOST of the budget past it."""
    return ctx.seconds_to_stop() + OVERRUN_AT_MOST * ctx.budget.seconds


def affordable_rows(members: list[str], searched: dict[str, Searched], scope: SearchScope, *, left_s: float,
                    ctx: Context) -> int:
    """The most rows, from the searched ones to every training row, whose final fit (and the seed copies
    training.refit_seeds asks for: `copy_reserve.fit_and_copies_s`) is estimated to take at most `left_s`
    (bisection: the cost grows with the rows), rounded down to ROUND_TO; the searched rows when not even one more
    row fits."""
    low, high = scope.split.rows_searched(), len(scope.data.y)

    def cost(rows: int) -> float:
        return fit_and_copies_s(members, searched, replace(scope, fit_rows_count=rows), ctx)

    if cost(high) <= left_s:
        return high
    if cost(low) > left_s:
        return low
    while high - low > ROUND_TO:
        middle = (low + high) // 2
        low, high = (middle, high) if cost(middle) <= left_s else (low, middle)
    return low // ROUND_TO * ROUND_TO

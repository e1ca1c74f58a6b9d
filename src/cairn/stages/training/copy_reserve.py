"""The time the search keeps for the seed copies (`seed_copies`) that training.refit_seeds asks for by number.

`training.refit_seeds: N` fits each booster of the chosen model N times whatever the clock says. So the search
keeps time for the N - 1 copies as it keeps time for the final fit (`standing.reserve_s`), and so do the steps
between them (`final_rows.fit_and_copies_s`); the stage then stays within its budget. `auto` gets no such
reserve: its copies use only the time the search leaves unused.

Why auto gets none was measured: keeping auto's copies their time too (up to 5 fits, within a fifth of the budget)
was run at one minute on the 18 bench sets, twice, beside the same code without it in one session. Copies then ran
on 13 sets instead of 6, but the trials the search gave up for them cost as much as the copies gained (5 sets
better, 5 worse, 8 the same); the one-row p99 grew on 7 sets (up to 6x), and training was within 10% of its budget
on 8 sets instead of 11 (the time kept went unused where the latency bound stopped the copies early).
"""

from __future__ import annotations

from cairn.stages.training.context import Context


def copies_reserve_s(booster_refit_s: float, ctx: Context) -> float:
    """Seconds to keep for the copies of boosters whose one refit together takes `booster_refit_s`."""
    setting = ctx.spec.refit_seeds
    return 0.0 if setting == "auto" else (int(setting) - 1) * booster_refit_s

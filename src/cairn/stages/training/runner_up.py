"""The runner-up, fitted like the winner, so the holdout can say whether the winner is really better.

Cross-validation compares the two on the same folds; the holdout is the one set no choice has seen, but only the
winner is fitted for it. Refitting the runner-up costs one more final fit, so it is done only when that fit is
cheap against what is left of the training budget (estimated from its measured fit time per fold, scaled to the
final fit's rows and trees: `final_rows.final_fit_s`) and never beyond RUNNER_UP_MAX_S; otherwise the comparison
stays on the folds and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cairn.stages.training.budget import TRIVIAL_S
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import final_fit_s
from cairn.stages.training.final_fit import final_fit
from cairn.stages.training.leaderboard import Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

RUNNER_UP_MAX_S = 120.0  # a refit expected to take longer is skipped, whatever budget is left; one under
# budget.TRIVIAL_S is done even with no time left


@dataclass(frozen=True)
class RunnerUp:
    name: str | None  # the second of the leaderboard; None with a single candidate
    pipeline: Any  # fitted on the final fit's rows, or None when it was not refit
    note: str  # why it was not refit, or how long the refit took
    test_share: float  # validation rows over fitting rows of one fold, for the Nadeau-Bengio correction


def fold_test_share(scope: SearchScope) -> float:
    """n_test / n_train of the folds, averaged (expanding-window folds differ from one another)."""
    shares = [len(valid) / max(len(fit), 1) for fit, valid in scope.split.folds]
    return float(np.mean(shares)) if shares else float("nan")


def fit_runner_up(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> RunnerUp:
    share = fold_test_share(scope)
    if len(board.scores) < 2:
        return RunnerUp(None, None, "a single candidate: nothing to compare with", share)
    second = board.scores[1]
    estimate_s = _refit_s(board, searched, scope)
    if estimate_s is None:
        return RunnerUp(second.model, None, f"{second.model} has no searched recipe to refit", share)
    allowed_s = _allowed_s(ctx)
    if estimate_s > allowed_s:
        return RunnerUp(second.model, None, f"{second.model} was not refit for the holdout: about {estimate_s:.0f} s, "
                        f"{allowed_s:.0f} s allowed", share)
    began = ctx.elapsed()
    pipeline = final_fit(Leaderboard([second], board.blend), searched, scope, ctx)
    return RunnerUp(second.model, pipeline, f"{second.model} refit for the holdout comparison in "
                    f"{ctx.elapsed() - began:.1f} s", share)


def refit_estimate_s(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> float:
    """Estimated seconds of the runner-up's refit, 0 when there is none to refit or it is too long to try in the
    time left (then `fit_runner_up` skips it, and keeping its time would only idle it): what the steps before it
    (`seed_copies`) leave for it."""
    estimate_s = _refit_s(board, searched, scope) if len(board.scores) >= 2 else None
    return estimate_s if estimate_s is not None and estimate_s <= _allowed_s(ctx) else 0.0


def _allowed_s(ctx: Context) -> float:
    """What the runner-up's refit may take: at most RUNNER_UP_MAX_S, and only the time to the safety stop, but
    always TRIVIAL_S."""
    return min(RUNNER_UP_MAX_S, max(ctx.seconds_to_stop(), TRIVIAL_S))


def _refit_s(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope) -> float | None:
    """Estimated seconds of the leaderboard's second's final fit; None when a member has no searched recipe."""
    members = board.members(board.scores[1].model)
    if any(name not in searched for name in members):
        return None
    return final_fit_s(members, searched, scope)

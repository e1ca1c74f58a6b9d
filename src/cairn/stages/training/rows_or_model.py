"""Which model the holdout judges when the budget confines the final fit: the best validated one, or a cheaper one
that the time left fits on many more rows.

When a fit on every row would not finish in time, the judged model is fitted on as many rows as the time left
affords (`final_rows`), and a cheaper model affords more of them. On large data rows can matter more than the
model: on 209,500 flights at one minute, CatBoost led LightGBM on the 6,250 searched rows (validation RMSE 9.92
against 11.1), but the time left fitted it on 19,000 rows (holdout RMSE 6.50), while LightGBM fitted on every row
scored 3.96. So each model that would get markedly more rows has its error carried to those rows along its own
learning curve, measured on its validation fold at half the searched rows:
error(rows) = error(searched) * (rows / searched) ** -slope, the slope held to [0, MAX_SLOPE] (a power law; past
that the curve flattens, and two points are noisy). The model predicted best is judged, when it beats the best
validated one by MARGIN. `training.final_model` names the model instead, and replays such a choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cairn.errors import ConfigError
from cairn.metrics.scoring import error_of, lower_is_better, shown
from cairn.stages.training.budget import TUNED_COST
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import cross_validate
from cairn.stages.training.final_rows import WORTH_AT_LEAST, affordable_rows
from cairn.stages.training.leaderboard import Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

CURVE_SHARE = 0.5  # of the fold's fitting rows: the learning curve's second point
MAX_SLOPE = 0.5  # error falls at most as 1 / sqrt(rows)
MARGIN = 0.01  # predicted error this much below the best validated model's, or it stays
CURVE_COST_SHARE = 0.25  # the half-row fits may take this share of the time left, or nothing is measured


@dataclass(frozen=True)
class Chosen:
    board: Leaderboard  # the board handed in, or with the model to judge moved first
    remarks: list[str]


def rows_or_model(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context) -> Chosen:
    """The board whose first model is the one to fit and judge (see the module docstring)."""
    if ctx.spec.final_model is not None:
        return Chosen(pinned(board, ctx.spec.final_model), [])
    if ctx.replay is not None or not scope.confined_by_budget(ctx.spec) or len(board.scores) < 2:
        return Chosen(board, [])
    fitted = [s.model for s in board.scores if all(m in searched for m in board.members(s.model))]
    rows = _rows(board, searched, scope, ctx, models=fitted)
    chosen = board.chosen
    if chosen not in rows:
        return Chosen(board, [])
    wider = [m for m in fitted if rows[m] >= rows[chosen] * WORTH_AT_LEAST
             and _could_win(board, m, chosen, rows=rows[m], scope=scope, primary=ctx.primary)]
    if not wider:
        return Chosen(board, [])
    needed = sorted({m for model in [chosen, *wider] for m in board.members(model)})
    cost_s = sum(searched[m].best.fit_time_s for m in needed) * CURVE_SHARE * TUNED_COST
    if cost_s > CURVE_COST_SHARE * max(ctx.seconds_to_stop(), 0.0):
        return Chosen(board, [])
    ctx.progress("learning curves of " + ", ".join(needed) + " at half the searched rows")
    slopes = {m: _slope(searched[m], scope) for m in needed}
    rows = _rows(board, searched, scope, ctx, models=[chosen, *wider])  # the curves took some of the time
    predicted = {model: _predicted(board, model, slopes, rows=rows[model], scope=scope, primary=ctx.primary)
                 for model in [chosen, *wider]}
    best = min(predicted, key=lambda model: (predicted[model], model != chosen))
    if best == chosen or predicted[best] > predicted[chosen] * (1 - MARGIN):
        return Chosen(board, [])
    primary = ctx.primary
    score = {s.model: s.cv[primary][0] for s in board.scores}
    slope_words = ", ".join(f"{m} {slopes[m]:.2f}" for m in needed)
    return Chosen(pinned(board, best), [
        f"judged {best} rather than {chosen}, the best validated ({primary} {shown(primary, score[chosen])} against "
        f"{shown(primary, score[best])}): the time left fits {best} on {rows[best]:,} rows and {chosen} on "
        f"{rows[chosen]:,}, and along each one's learning curve (error falls as rows ** -slope, measured at half "
        f"the searched rows: {slope_words}) that predicts {primary} {_shown(primary, predicted[best])} against "
        f"{_shown(primary, predicted[chosen])}; to replay this run with training.tuning.plan, also set "
        f"training.final_model: {best}"])


def _could_win(board: Leaderboard, model: str, chosen: str, *, rows: int, scope: SearchScope, primary: str) -> bool:
    """Whether `model`, its error falling as fast as any (MAX_SLOPE), could beat `chosen` were its error not to
    fall at all: if not, no curve needs measuring."""
    best_case = _predicted(board, model, dict.fromkeys(board.members(model), MAX_SLOPE), rows=rows, scope=scope,
                           primary=primary)
    return best_case < _predicted(board, chosen, dict.fromkeys(board.members(chosen), 0.0), rows=rows, scope=scope,
                                  primary=primary) * (1 - MARGIN)


def _shown(primary: str, error: float) -> str:
    """A predicted error as the metric reads (`error_of` backwards)."""
    return shown(primary, error if lower_is_better(primary) else 1.0 - error)


def pinned(board: Leaderboard, model: str) -> Leaderboard:
    """The board with `model` first, the rest in their order; a model the search did not score is a ConfigError."""
    names = [s.model for s in board.scores]
    if model not in names:
        raise ConfigError.single(
            "training.final_model names a model the search did not score.", where="training.final_model",
            expected=f"one of {', '.join(names)}", got=model,
            fix="name one of those, or remove training.final_model (a model the budget dropped, or a blend that "
                "beat no single model, cannot be judged; the training notes say why)")
    first = names.index(model)
    return replace(board, scores=[board.scores[first], *board.scores[:first], *board.scores[first + 1:]])


def _rows(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope, ctx: Context, *,
          models: list[str]) -> dict[str, int]:
    """The rows the time left affords each model's final fit (`final_rows`)."""
    left_s = ctx.seconds_to_stop()
    return {model: affordable_rows(board.members(model), searched, scope, left_s=left_s, ctx=ctx) for model in models}


def _slope(searched: Searched, scope: SearchScope) -> float:
    """How fast the model's error falls with rows, from its best parameters at CURVE_SHARE of the first fold's
    fitting rows against all of them."""
    primary = scope.data.primary
    half = cross_validate(searched.candidate, searched.best.params, scope.data, rows_share=CURVE_SHARE,
                          keep_outputs=False, folds=1)
    full = error_of(primary, searched.best.fold_scores[0])
    fewer = error_of(primary, half.cv[primary][0])
    if not (full > 0 and fewer > 0 and math.isfinite(full) and math.isfinite(fewer)):
        return 0.0
    return min(max(math.log(fewer / full) / math.log(1 / CURVE_SHARE), 0.0), MAX_SLOPE)


def _predicted(board: Leaderboard, model: str, slopes: dict[str, float], *, rows: int, scope: SearchScope,
               primary: str) -> float:
    """The model's validation error carried to `rows` along its slope (a blend: its members' weighted slope)."""
    score = next(s for s in board.scores if s.model == model)
    members = board.members(model)
    weights = board.blend if len(members) > 1 else {model: 1.0}
    slope = sum(weights[m] * slopes[m] for m in members) / sum(weights[m] for m in members)
    return error_of(primary, score.cv[primary][0]) * (rows / max(scope.data.fold_rows, 1)) ** -slope

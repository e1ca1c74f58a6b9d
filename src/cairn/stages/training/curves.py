"""Learning curves of the best two single models: their train and CV scores as the training rows grow, when the
budget still has room for them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cairn.metrics.scoring import lower_is_better
from cairn.stages.training.budget import LEARNING_CURVE_COST, STOP_SHARE, TUNED_COST, duration
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import cross_validate
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

CURVE_SHARES = (0.25, 0.5)  # of each fold's training rows; the full size is the cross-validation itself
CURVE_FOLDS = 3  # learning curves average the first folds only: they show a trend, not a score


@dataclass(frozen=True)
class LearningCurve:
    """Train and CV score of the primary metric as the training rows grow: a gap is variance, two poor
    scores are bias."""

    model: str
    rows: list[int]  # training rows per fold at each point
    train: list[float]
    cv: list[float]
    cv_sd: list[float]


def learning_curves(searched: dict[str, Searched], scope: SearchScope, ctx: Context, *, reserve_s: float
                    ) -> tuple[list[LearningCurve], list[str]]:
    """The curves, or none and a remark when drawing them would overrun the budget (`reserve_s`: what the final
    fit still needs), or when the budget could not fit the model on every training row: the seconds then buy
    the final fit more rows (`final_rows`; on 209,500 flights at one minute the curves took 6.7 s). Tuning keeps
    no time for them (`standing.reserve_s`): they are drawn with what the search left, so a short budget goes to
    the model first. The runner-up's refit (`runner_up`) comes after them and gets what they leave."""
    if scope.confined_by_budget(ctx.spec):
        return [], ["learning curves skipped: the budget could not fit the model on every training row, so their "
                    "time was left to the final fit"]
    singles = sorted(searched, key=lambda n: searched[n].best.primary_mean,
                     reverse=not lower_is_better(ctx.primary))[:2]
    cost = LEARNING_CURVE_COST * sum(searched[n].cv_s for n in singles) * TUNED_COST
    if ctx.replay is None and ctx.elapsed() + cost + reserve_s > ctx.budget.seconds * STOP_SHARE:
        return [], [f"learning curves skipped: an estimated {duration(cost)} would overrun the budget"]
    ctx.progress("learning curves of " + " and ".join(singles))
    return [learning_curve(searched[name], scope, name=name) for name in singles], []


def learning_curve(searched: Searched, scope: SearchScope, *, name: str) -> LearningCurve:
    """The best trial's parameters on CURVE_SHARES of the first CURVE_FOLDS folds' rows, then all of them (the
    cross-validation that already ran)."""
    primary = scope.data.primary
    full = searched.best
    points = [cross_validate(searched.candidate, full.params, scope.data, rows_share=share, keep_outputs=False,
                             folds=CURVE_FOLDS) for share in CURVE_SHARES]
    folds = scope.split.folds[:CURVE_FOLDS]
    rows = [int(np.mean([max(20, int(len(f) * s)) for f, _ in folds])) for s in CURVE_SHARES]
    rows.append(int(np.mean([len(f) for f, _ in folds])))
    cv_full, train_full = full.fold_scores[:CURVE_FOLDS], full.train_fold_scores[:CURVE_FOLDS]
    return LearningCurve(name, rows, [p.train for p in points] + [float(np.mean(train_full))],
                         [p.cv[primary][0] for p in points] + [float(np.mean(cv_full))],
                         [p.cv[primary][1] for p in points] + [float(np.std(cv_full))])

"""What the search found: every candidate's best trial, scored, plus a greedy blend of them when one beats the best
model out of fold; best first."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from cairn.metrics.scoring import lower_is_better
from cairn.stages.training.ensemble import blended_result, greedy_weights
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class CandidateScore:
    model: str
    cv: dict[str, tuple[float, float]]  # metric -> (mean, sd) over folds
    train: float  # primary metric on the training folds, for bias-variance
    fit_time_s: float  # per fold, encoding included
    predict_ms_per_row: float = math.nan  # encoding and model, on each fold's validation batch
    params: dict[str, Any] = field(default_factory=dict)  # as refit (trees: see `refit_trees`)
    trials: int = 1  # trials run, the defaults' included
    pruned: int = 0
    best_iteration: int | None = None  # trees chosen by early stopping, mean over folds
    fold_scores: list[float] = field(default_factory=list)  # primary metric per fold: paired comparisons


@dataclass(frozen=True)
class Leaderboard:
    scores: list[CandidateScore]  # best first: the first is the chosen model
    blend: dict[str, float]  # member -> weight of the blend that competed (two members or more); empty if none
    remarks: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> str:
        return self.scores[0].model

    def members(self, model: str | None = None) -> list[str]:
        """The models a final fit of `model` (the chosen one by default) fits: the blend's members, or itself."""
        model = model or self.chosen
        return list(self.blend) if model == ENSEMBLE else [model]


def leaderboard(searched: dict[str, Searched], scope: SearchScope, *, ensemble: bool,
                library: dict[str, Searched] | None = None) -> Leaderboard:
    """Each candidate's best trial, with the parameters it is refit with, and the blend when it competes, drawn
    from `library` when given (`trial_members`: the families' next best trials too), else from the best trials."""
    primary = scope.data.primary
    results = {name: s.best for name, s in (library or searched).items()}
    scores = [CandidateScore(name, s.best.cv, s.best.train, s.best.fit_time_s, s.best.predict_ms_per_row,
                             scope.refit_params(s.candidate, s.best), s.trials, s.pruned, s.best.best_iteration,
                             list(s.best.fold_scores))
              for name, s in searched.items()]
    blend: dict[str, float] = {}
    remarks = []
    if ensemble and len(searched) >= 2:
        weights = greedy_weights(results, scope.data)
        if len(weights) >= 2:
            blended = blended_result(results, weights, scope.data)
            scores.append(CandidateScore(ENSEMBLE, blended.cv, blended.train, blended.fit_time_s,
                                         blended.predict_ms_per_row, {"weights": dict(weights)}, 0, 0, None,
                                         list(blended.fold_scores)))
            blend = weights
        else:
            remarks.append(f"ensemble: no blend beat {next(iter(weights))} alone out of fold")
    scores.sort(key=lambda s: s.cv[primary][0], reverse=not lower_is_better(primary))  # stable: ties keep order
    return Leaderboard(scores, blend, remarks)


def refit_for(board: Leaderboard, searched: dict[str, Searched], scope: SearchScope) -> Leaderboard:
    """The board with each model's refit parameters for `scope`'s final fit: a final fit widened to more rows
    (`final_rows`) grows more trees, and the leaderboard shows what was really fitted."""
    return replace(board, scores=[replace(s, params=scope.refit_params(searched[s.model].candidate,
                                                                         searched[s.model].best))
                                  if s.model in searched else s for s in board.scores])

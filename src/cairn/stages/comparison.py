"""Is the chosen model really better than the next one? The leaderboard's answer, with its evidence.

Two paired comparisons of the leaderboard's first and second on the primary metric (see cairn.metrics.paired):
the Nadeau-Bengio corrected t-test on the cross-validation folds both were scored on, and a paired bootstrap of the
metric difference on the holdout, when the training stage refit the runner-up (training.runner_up says why not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.metrics.paired import FoldComparison, HoldoutComparison, corrected_resampled_t, paired_bootstrap
from cairn.metrics.resampled import resampled_scores
from cairn.metrics.scoring import draw_scores, lower_is_better, positive_last, shown
from cairn.stages.training.train import predictions

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class ModelComparison:
    best: str
    runner_up: str
    metric: str
    best_cv: float
    runner_up_cv: float
    folds: FoldComparison | None
    holdout: HoldoutComparison | None
    why_no_holdout: str = ""  # set when there is no holdout comparison
    one_fold: bool = False  # the search scored on one validation fold (training.validation): no fold test exists

    @property
    def clearly_better(self) -> bool:
        """Better on the folds (p < 0.05) and, when measured, on the holdout (the interval excludes zero). A search
        on one validation fold has no folds to test: the holdout alone decides, and without it nothing is clear."""
        holdout_says = self.holdout is None or (self.holdout.excludes_zero and self._favours(self.holdout.difference))
        if self.one_fold:
            return self.holdout is not None and holdout_says
        folds_say = self.folds is not None and self.folds.p_value < SIGNIFICANCE and self._favours(
            self.folds.mean_difference)
        return folds_say and holdout_says

    def _favours(self, difference: float) -> bool:
        return difference < 0 if lower_is_better(self.metric) else difference > 0

    def sentence(self) -> str:
        """One line for the leaderboard, the notes and the model card."""
        label = self.metric.upper()
        scores = (f"({'validation' if self.one_fold else 'CV'} {label} {shown(self.metric, self.best_cv)} vs "
                  f"{shown(self.metric, self.runner_up_cv)})")
        if self.holdout is not None and self.holdout.excludes_zero and not self._favours(self.holdout.difference):
            head = f"{self.best} was chosen {scores}, but {self.runner_up} is better on the holdout"
        else:
            head = (f"{self.best} is {'clearly' if self.clearly_better else 'not clearly'} better than "
                    f"{self.runner_up} {scores}")
        parts = []
        if self.folds is not None:
            parts.append(f"corrected resampled t-test over {self.folds.folds} folds: p = {self.folds.p_value:.3g}")
        if self.holdout is not None:
            h = self.holdout
            parts.append(f"holdout {label} difference {_signed(self.metric, h.difference)}, {h.confidence:.0%} CI "
                         f"{_signed(self.metric, h.ci_low)} to {_signed(self.metric, h.ci_high)} (paired bootstrap, "
                         f"{self.best} better in {h.first_better_share:.0%} of resamples)")
        elif self.why_no_holdout:
            parts.append(f"no holdout comparison: {self.why_no_holdout}")
        return head + (": " + "; ".join(parts) if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "runner_up": self.runner_up, "metric": self.metric, "best_cv": self.best_cv,
                "runner_up_cv": self.runner_up_cv, "clearly_better": self.clearly_better,
                "folds": None if self.folds is None else vars(self.folds),
                "holdout": None if self.holdout is None else vars(self.holdout),
                "why_no_holdout": self.why_no_holdout, "sentence": self.sentence()}


def _signed(metric: str, value: float) -> str:
    text = shown(metric, abs(value))
    return ("-" if value < 0 else "+") + text


def compare_best_two(training: Any, X: pd.DataFrame, y: np.ndarray, *, best_pipeline: Any, problem: str,
                     metric: str, resamples: int, confidence: float, seed: int) -> ModelComparison | None:
    """None with a single candidate. Both models are compared as cross-validation ranked them: a classifier's
    label is its most probable class (no tuned threshold, no calibration: the runner-up has neither). Reads
    `training` defensively: a result cached before these fields existed has no fold scores and no runner-up."""
    board = training.leaderboard
    if len(board) < 2:
        return None
    first, second = board[0], board[1]
    runner_up = getattr(training, "runner_up", None)
    folds = None
    first_folds, second_folds = getattr(first, "fold_scores", []), getattr(second, "fold_scores", [])
    if runner_up is not None and len(first_folds) >= 2 and len(first_folds) == len(second_folds):
        folds = corrected_resampled_t(first_folds, second_folds, test_share=runner_up.test_share)
    holdout, why = None, "the runner-up was not refit" if runner_up is None else runner_up.note
    if runner_up is not None and runner_up.pipeline is not None and len(y) >= 2:
        positive = getattr(training, "positive_class", None)
        classes = positive_last(np.array(training.classes), positive) if training.classes else None
        best_predicted, best_proba = predictions(best_pipeline, X, problem=problem, positive=positive)
        other_predicted, other_proba = predictions(runner_up.pipeline, X, problem=problem, positive=positive)
        try:
            holdout = paired_bootstrap(row_score(metric, y, best_predicted, best_proba, classes),
                                       row_score(metric, y, other_predicted, other_proba, classes), rows=len(y),
                                       resamples=resamples, confidence=confidence, seed=seed,
                                       lower_is_better=lower_is_better(metric))
            why = ""
        except ValueError as error:
            why = str(error)
    return ModelComparison(first.model, second.model, metric, first.cv[metric][0], second.cv[metric][0], folds,
                           holdout, why, one_fold=getattr(training, "one_fold", False))


def row_score(metric: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
               classes: np.ndarray | None) -> Any:
    """The metric on each draw: vectorised where cairn.metrics.resampled can, one draw at a time otherwise."""

    def scores(draws: np.ndarray) -> np.ndarray:
        fast = resampled_scores(metric, y, predicted, proba, classes, draws)
        return fast if fast is not None else draw_scores(metric, y, predicted, proba, classes, draws)

    return scores

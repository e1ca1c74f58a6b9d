"""Calibration of a binary classifier's probabilities, fitted on its out-of-fold probabilities and kept only
when it improves their log loss.

Honest by construction: each fold's probabilities are calibrated by a map fitted on the other folds' (cross-
fitted), and that calibrated log loss is what must beat the raw one. An isotonic map fitted and judged on the same
rows always "improves"; this one has to earn it. The map kept is then fitted on every out-of-fold row.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from cairn.model.calibration import EDGE, Calibration

METHODS = ("isotonic", "sigmoid")
MIN_GAIN = 0.01  # relative drop in out-of-fold log loss a calibration must bring to be used
PARTS_OF_ONE_FOLD = 5  # a search validated on one fold (training.validation) cross-fits on parts of its rows


def calibrate(positive_proba: np.ndarray, is_positive: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
              ) -> tuple[Calibration | None, np.ndarray, str]:
    """(the map or None, the out-of-fold probabilities the threshold is then tuned on, the note saying why)."""
    known = ~np.isnan(positive_proba)
    truth = np.asarray(is_positive, dtype=bool)
    if known.sum() < 50 or truth[known].all() or not truth[known].any():
        return None, positive_proba, "probabilities not calibrated: too few out-of-fold rows of both classes"
    raw = _log_loss(truth[known], positive_proba[known])
    others = "folds"
    if len(folds) == 1:  # one validation fold: its rows in random parts, each calibrated by a map of the others
        rows = np.random.default_rng(0).permutation(folds[0][1])
        folds, others = [(rows, part) for part in np.array_split(rows, PARTS_OF_ONE_FOLD)], "parts of the fold"
    crossed = {method: _cross_fitted(method, positive_proba, truth, known, folds) for method in METHODS}
    losses = {method: _log_loss(truth[known], values[known]) for method, values in crossed.items()}
    best = min(losses, key=lambda method: losses[method])
    tried = ", ".join(f"{method} {loss:.4f}" for method, loss in losses.items())
    if losses[best] > raw * (1 - MIN_GAIN):
        return None, positive_proba, (f"probabilities not calibrated: no calibration lowered the out-of-fold log "
                                      f"loss {raw:.4f} by {MIN_GAIN:.0%} ({tried}, each fitted on the other {others})")
    final = fit_calibration(best, positive_proba[known], truth[known])
    return final, crossed[best], (f"probabilities calibrated ({best}, fitted out of fold): out-of-fold log loss "
                                  f"{raw:.4f} -> {losses[best]:.4f} ({tried})")


def fit_calibration(method: str, proba: np.ndarray, truth: np.ndarray) -> Calibration:
    if method == "isotonic":
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba, truth.astype(float))
        return Calibration("isotonic", tuple(float(v) for v in isotonic.X_thresholds_),
                           tuple(float(v) for v in isotonic.y_thresholds_))
    odds = logit(np.clip(proba, EDGE, 1 - EDGE)).reshape(-1, 1)
    platt = LogisticRegression(C=1e6).fit(odds, truth)
    return Calibration("sigmoid", slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))


def _cross_fitted(method: str, proba: np.ndarray, truth: np.ndarray, known: np.ndarray,
                  folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = np.full(len(proba), np.nan)
    for _, valid in folds:
        valid = valid[known[valid]]
        others = known.copy()
        others[valid] = False
        if len(valid) == 0 or truth[others].all() or not truth[others].any():
            out[valid] = proba[valid]
            continue
        out[valid] = fit_calibration(method, proba[others], truth[others]).positive(proba[valid])
    return out


def _log_loss(truth: np.ndarray, proba: np.ndarray) -> float:
    proba = np.clip(proba, EDGE, 1 - EDGE)
    return float(-np.mean(np.where(truth, np.log(proba), np.log(1 - proba))))

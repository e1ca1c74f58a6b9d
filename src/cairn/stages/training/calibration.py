"""Calibration of a classifier's probabilities, fitted on its out-of-fold probabilities and kept only when it
improves their log loss: binary by an isotonic or a sigmoid map of the positive class, multiclass by a temperature
(one number, so ten classes of a few rows each cannot overfit it; the labels stay as they were).

Honest by construction: each fold's probabilities are calibrated by a map fitted on the other folds' (cross-
fitted), and that calibrated log loss is what must beat the raw one. An isotonic map fitted and judged on the same
rows always "improves"; this one has to earn it. The map kept is then fitted on every out-of-fold row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from cairn.model.calibration import EDGE, Calibration, tempered, tempered_logs

METHODS = ("isotonic", "sigmoid")
MIN_GAIN = 0.01  # relative drop in out-of-fold log loss a calibration must bring to be used
PARTS_OF_ONE_FOLD = 5  # a search validated on one fold (training.validation) cross-fits on parts of its rows
LOG_TEMPERATURE = (-3.0, 3.0)  # temperatures searched: e^-3 (much sharper) to e^3 (much softer)
TEMPERATURE_ROWS = 20_000  # rows a temperature is fitted on: one number settles long before, the cost does not


def calibrate(positive_proba: np.ndarray, is_positive: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
              ) -> tuple[Calibration | None, np.ndarray, str]:
    """(the map or None, the out-of-fold probabilities the threshold is then tuned on, the note saying why)."""
    known = ~np.isnan(positive_proba)
    truth = np.asarray(is_positive, dtype=bool)
    if known.sum() < 50 or truth[known].all() or not truth[known].any():
        return None, positive_proba, "probabilities not calibrated: too few out-of-fold rows of both classes"
    raw = _log_loss(truth[known], positive_proba[known])
    folds, others = _judging(folds)
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


def calibrate_classes(proba: np.ndarray, codes: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
                      ) -> tuple[Calibration | None, str]:
    """A multiclass model's temperature, or None, and the note saying why. `proba` holds the out-of-fold
    probabilities of every class (NaN rows were in no validation fold), `codes` each row's class column."""
    known = ~np.isnan(proba).any(axis=1)
    if known.sum() < 50:
        return None, "probabilities not calibrated: too few out-of-fold rows"
    folds, others = _judging(folds)
    crossed = np.full(proba.shape, np.nan)
    for valid, rest in _held_out(known, folds):
        if len(valid) and rest.any():
            crossed[valid] = tempered(proba[valid], fit_temperature(proba[rest], codes[rest]))
    judged = known & ~np.isnan(crossed).any(axis=1)
    before, after = _class_log_loss(codes[judged], proba[judged]), _class_log_loss(codes[judged], crossed[judged])
    if before <= 0 or after > before * (1 - MIN_GAIN):  # a loss of 0 (every row certain and right) has no 1%
        return None, (f"probabilities not calibrated: a temperature fitted on the other {others} took the "
                      f"out-of-fold log loss {before:.4f} to {after:.4f}, not {MIN_GAIN:.0%} lower")
    temperature = fit_temperature(proba[known], codes[known])
    softer = "softer" if temperature > 1 else "sharper"
    return Calibration("temperature", temperature=temperature), (
        f"probabilities calibrated by a temperature of {temperature:.3g} ({softer}, fitted out of fold): "
        f"out-of-fold log loss {before:.4f} -> {after:.4f} with each fold's temperature fitted on the other {others}")


def fit_temperature(proba: np.ndarray, codes: np.ndarray) -> float:
    """The temperature that minimises the log loss of `proba` against the classes at `codes` (on at most
    TEMPERATURE_ROWS of them, drawn with a fixed seed)."""
    if len(codes) > TEMPERATURE_ROWS:
        rows = np.random.default_rng(0).choice(len(codes), size=TEMPERATURE_ROWS, replace=False)
        proba, codes = proba[rows], codes[rows]
    logs = np.log(np.clip(proba, EDGE, 1.0))

    def loss(log_temperature: float) -> float:
        return _class_log_loss(codes, tempered_logs(logs, float(np.exp(log_temperature))))

    found = minimize_scalar(loss, bounds=LOG_TEMPERATURE, method="bounded", options={"xatol": 1e-3})
    return float(np.exp(found.x))


def _judging(folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The folds a calibration is judged on, and what to call them: a search validated on one fold
    (training.validation) judges on random parts of its rows, each calibrated by a map of the others."""
    if len(folds) != 1:
        return folds, "folds"
    rows = np.random.default_rng(0).permutation(folds[0][1])
    return [(rows, part) for part in np.array_split(rows, PARTS_OF_ONE_FOLD)], "parts of the fold"


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
    for valid, others in _held_out(known, folds):
        if len(valid) == 0 or truth[others].all() or not truth[others].any():
            out[valid] = proba[valid]
            continue
        out[valid] = fit_calibration(method, proba[others], truth[others]).positive(proba[valid])
    return out


def _held_out(known: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per fold: its rows with an out-of-fold output, and a mask of every other such row, which fits the map that
    calibrates them."""
    for _, valid in folds:
        valid = valid[known[valid]]
        rest = known.copy()
        rest[valid] = False
        yield valid, rest


def _log_loss(truth: np.ndarray, proba: np.ndarray) -> float:
    proba = np.clip(proba, EDGE, 1 - EDGE)
    return float(-np.mean(np.where(truth, np.log(proba), np.log(1 - proba))))


def _class_log_loss(codes: np.ndarray, proba: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(codes)), codes], EDGE, 1.0))))

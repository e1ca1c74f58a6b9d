"""A classifier's probabilities, recalibrated by a map fitted out of fold: a binary classifier's positive class by a
monotone map, a multiclass one's every class by one temperature (its argmax, so every label, unchanged).

Kept beside the fitted pipeline, not inside it, so the pipeline (and what compiles, explains and refits it) stays
as trained, the map is plain JSON in the bundle's model.json, and a one-row answer pays one interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import expit, logit

EDGE = 1e-6  # probabilities are kept inside (EDGE, 1 - EDGE): log loss of a calibrated 0 or 1 is unbounded


@dataclass(frozen=True)
class Calibration:
    """isotonic: piecewise-linear through (x, y) knots; sigmoid (Platt): expit(slope * logit(p) + intercept);
    temperature (multiclass): softmax(log(p) / temperature), above 1 softer, below 1 sharper."""

    method: Literal["isotonic", "sigmoid", "temperature"]
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    temperature: float = 1.0

    def probabilities(self, proba: np.ndarray, *, positive_column: int = 1) -> np.ndarray:
        """Every class's probability as the model answers it: tempered, or (binary) the positive column mapped."""
        if self.method == "temperature":
            return tempered(proba, self.temperature)
        return self.columns(proba, positive_column=positive_column)

    def positive(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the positive class."""
        proba = np.asarray(proba, dtype="float64")
        if self.method == "isotonic":
            mapped = np.interp(proba, self.x, self.y)
        else:
            mapped = expit(self.slope * logit(np.clip(proba, EDGE, 1 - EDGE)) + self.intercept)
        return np.asarray(np.clip(mapped, EDGE, 1 - EDGE), dtype="float64")

    def columns(self, proba: np.ndarray, *, positive_column: int) -> np.ndarray:
        """Two columns of class probabilities with the positive one calibrated, the other its complement."""
        calibrated = self.positive(proba[:, positive_column])
        out = np.empty((len(calibrated), 2))
        out[:, positive_column], out[:, 1 - positive_column] = calibrated, 1.0 - calibrated
        return out

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "slope": self.slope,
                "intercept": self.intercept, "temperature": self.temperature}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Calibration | None:
        if not value:
            return None
        return cls(value["method"], tuple(value.get("x", ())), tuple(value.get("y", ())),
                   float(value.get("slope", 1.0)), float(value.get("intercept", 0.0)),
                   float(value.get("temperature", 1.0)))


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / temperature) by row: each row's order of classes kept, its confidence scaled."""
    return tempered_logs(np.log(np.clip(np.asarray(proba, dtype="float64"), EDGE, 1.0)), temperature)


def tempered_logs(logs: np.ndarray, temperature: float) -> np.ndarray:
    """`tempered` from the probabilities' logs. No class falls below EDGE (the rest renormalised): a sharp
    temperature would otherwise serve 1e-19, and one wrong answer would cost the holdout a log loss of up to 34
    (it floors at 1e-15) where training priced it at most 14."""
    scaled = logs / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    floored = np.maximum(exp / exp.sum(axis=1, keepdims=True), EDGE)
    return np.asarray(floored / floored.sum(axis=1, keepdims=True), dtype="float64")

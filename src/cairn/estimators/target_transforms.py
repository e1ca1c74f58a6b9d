"""The target transforms a TransformedTargetRegressor holds by reference: named functions, so they pickle."""

from __future__ import annotations

import numpy as np


def log1p_target(values: np.ndarray) -> np.ndarray:
    return np.log1p(values)


def expm1_target(values: np.ndarray) -> np.ndarray:
    return np.expm1(values)

"""The target transforms a TransformedTargetRegressor holds by reference: named functions, so they pickle."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def log1p_target(values: npt.NDArray[np.number[Any]]) -> npt.NDArray[np.float64]:
    """The target may be integers (prices in whole units); its logarithm is float."""
    logs: npt.NDArray[np.float64] = np.log1p(values)
    return logs


def expm1_target(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.expm1(values)

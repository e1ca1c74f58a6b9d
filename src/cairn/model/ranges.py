"""The training range of each numeric input: recorded at training, reported at prediction.

A value far outside what the model saw is answered by extrapolation: trees stay flat beyond their last split,
but a linear model on a log target turned `Total_Bsmt_SF: 1e6` into a price of 4.3e94. Clipping each number to
the range of the training rows (cairn.model.inputs, on every prediction path) bounds every answer the way trees
already are (for a tree the clipped and the raw value fall on the same side of every split, so its answer does not
change); the caller is told which values were clipped. Dates are left alone: a date after the training period is
the normal case of a model in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from cairn.model.inputs import FeatureSpec, as_model_frame, has_range

SHOWN_FIELDS = 5  # fields named in one warning, the rest counted


def with_training_ranges(features: list[FeatureSpec], rows: pd.DataFrame) -> list[FeatureSpec]:
    """`features` with the range of each (non-date) number over `rows`, the rows the model was fitted on."""
    numbers = [f for f in features if f.kind == "number" and f.parse != "date"]
    if not numbers:
        return list(features)
    frame = as_model_frame(rows, numbers)
    lows, highs = frame.min(skipna=True), frame.max(skipna=True)
    ranged = {}
    for feature in numbers:
        low, high = float(lows[feature.name]), float(highs[feature.name])
        if math.isfinite(low) and math.isfinite(high):
            ranged[feature.name] = replace(feature, low=low, high=high)
    return [ranged.get(feature.name, feature) for feature in features]



@dataclass(frozen=True)
class OutOfRange:
    """One field's values outside its training range, in a batch: how many, and the furthest one."""

    name: str
    count: int
    furthest: float
    low: float
    high: float

    def sentence(self) -> str:
        times = "" if self.count == 1 else f" ({self.count} values, furthest {_number(self.furthest)})"
        value = f" = {_number(self.furthest)}" if self.count == 1 else ""
        return (f"{self.name}{value} is outside the training range {_number(self.low)} to {_number(self.high)}"
                f"{times}: answered as if it were {_number(self.high if self.furthest > self.high else self.low)}")


def out_of_range(columns: pd.DataFrame | dict[str, Any], features: list[FeatureSpec]) -> list[OutOfRange]:
    """Fields with values outside their training range, as the model read them (numbers parsed), in order."""
    found = []
    for feature in features:
        if not has_range(feature) or feature.name not in columns:
            continue
        values = np.asarray(columns[feature.name], dtype="float64")
        low, high = float(feature.low), float(feature.high)  # type: ignore[arg-type]
        outside = (values < low) | (values > high)
        if outside.any():
            beyond = np.where(values > high, values - high, low - values)
            furthest = float(values[int(np.nanargmax(np.where(outside, beyond, -np.inf)))])
            found.append(OutOfRange(feature.name, int(outside.sum()), furthest, low, high))
    return found


def range_warnings(found: list[OutOfRange]) -> list[str]:
    """One sentence per field for the first SHOWN_FIELDS, then a count of the rest."""
    said = [item.sentence() for item in found[:SHOWN_FIELDS]]
    if len(found) > SHOWN_FIELDS:
        said.append(f"{len(found) - SHOWN_FIELDS} more fields had values outside their training range (clipped)")
    return said


def _number(value: float) -> str:
    return f"{value:.6g}"

"""What an explanation is, as callers see it: one frozen `Explanation` per row, or `Explanations` for many rows.

`prediction` is on the explained `scale` and equals `base_value` plus the contributions (to rounding);
`value` is the same answer in the target's units, or the probability of the explained class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Explanation:
    """Why one record got its answer: each input's contribution, from `base_value` to `prediction`."""

    base_value: float
    contributions: dict[str, float]  # input -> contribution, in the model's input order
    prediction: float  # base_value + sum(contributions), on `scale`
    scale: str  # "Sale_Price", "log1p(Sale_Price)", "log-odds of bad", "probability of bad", ...
    value: float  # the answer in target units, or the probability of `output`
    output: Any = None  # the class explained (classification), else None
    inputs: dict[str, Any] = field(default_factory=dict)  # each input as the model read it (None: missing)
    note: str = ""  # where a rescaling, a split or an estimate was made
    answer: Any = None  # what /predict answers for the record: a class label, or `value` for regression

    def ranked(self, top: int | None = None) -> list[tuple[str, float]]:
        """(input, contribution), largest magnitude first."""
        ordered = sorted(self.contributions.items(), key=lambda pair: -abs(pair[1]))
        return ordered if top is None else ordered[:top]

    def to_dict(self) -> dict[str, Any]:
        return {"base_value": self.base_value, "contributions": dict(self.contributions),
                "prediction": self.prediction, "scale": self.scale, "value": self.value,
                "output": None if self.output is None else str(_plain(self.output)),
                "answer": self.value if self.output is None else _plain(self.answer),
                "inputs": {k: _plain(v) for k, v in self.inputs.items()},
                "note": self.note}


@dataclass(frozen=True)
class Explanations:
    """Many rows at once, column-wise: `contributions` is (rows, inputs, outputs); outputs are the classes of a
    multiclass model, else one. `values` are in target units or probabilities (rows, outputs)."""

    inputs: list[str]
    base_values: np.ndarray  # (rows, outputs)
    contributions: np.ndarray  # (rows, inputs, outputs)
    scales: list[str]  # per output
    values: np.ndarray  # (rows, outputs)
    outputs: list[Any]  # the class of each output (None for regression)
    chosen: np.ndarray  # per row, the output its answer is about (the predicted class of a multiclass model)
    read: Any = None  # the inputs as the model read them: a mapping of column arrays (or a DataFrame)
    note: str = ""
    answers: Any = None  # classification: each row's answer as /predict gives it (its label)

    def __len__(self) -> int:
        return len(self.base_values)

    @property
    def predictions(self) -> np.ndarray:
        """base + contributions, on each output's scale (rows, outputs)."""
        summed: np.ndarray = self.base_values + self.contributions.sum(axis=1)
        return summed

    def row(self, index: int, output: Any = None) -> Explanation:
        """Row `index` for its own answer's output (or the class `output`)."""
        column = int(self.chosen[index]) if output is None else self.outputs.index(output)
        contributions = {name: float(value) for name, value in zip(self.inputs, self.contributions[index, :, column],
                                                                      strict=True)}
        read = {}
        if self.read is not None:
            read = {name: _plain(self.read[name][index]) for name in self.inputs if name in self.read}
        return Explanation(float(self.base_values[index, column]), contributions,
                           float(self.predictions[index, column]), self.scales[column],
                           float(self.values[index, column]), self.outputs[column], read, self.note,
                           None if self.answers is None else _plain(self.answers[index]))

    def frame(self) -> pd.DataFrame:
        """The inputs as the model read them, as a table (one row per explained row)."""
        return pd.DataFrame({name: self.read[name] for name in self.inputs if name in self.read})

    def rows(self) -> list[Explanation]:
        return [self.row(index) for index in range(len(self))]

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready: per row its explanation, and for a multiclass model every class's under `by_class`."""
        records = []
        for index in range(len(self)):
            record = self.row(index).to_dict()
            if len(self.outputs) > 1:
                record["by_class"] = {str(_plain(label)): {key: value for key, value in self.row(index, label)
                                                           .to_dict().items() if key not in {"inputs", "note"}}
                                      for label in self.outputs}
            records.append(record)
        return records

    def mean_absolute(self) -> list[tuple[str, float]]:
        """Mean |contribution| per input over rows (and outputs), largest first: the global importance."""
        magnitude = np.abs(self.contributions).mean(axis=(0, 2)) if len(self) else np.zeros(len(self.inputs))
        return sorted(((name, float(value)) for name, value in zip(self.inputs, magnitude, strict=True)),
                      key=lambda pair: -pair[1])


def _plain(value: Any) -> Any:
    """numpy scalars unwrapped, NaN as None: JSON-ready."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value

"""How a record becomes what a model reads: its input schema, the columns it is fed, numbers clipped to their
training range.

Training, serving, batch scoring and monitoring all read inputs through these functions, so they read them alike.
Kept apart from cairn.model.trained so the modules that only read inputs (drift, ranges, features) need not import
the model; cairn.model.trained re-exports the names older code and pickles import from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from cairn.words import count as counted

FeatureKind = Literal["number", "category"]
Parse = Literal["plain", "text_number", "date", "text"]
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FeatureSpec:
    """One input column as the model expects it; drives request validation and drift checks.

    `parse` says how a raw value becomes a number: as is, from text like "1,250" or "$3.4k", or from a date
    (days since 1970-01-01; the encoder turns them into calendar parts). A "category" parsed as "text" is free
    text: the encoder counts its characters, words and digits.
    """

    name: str
    kind: FeatureKind
    example: Any = None
    levels: tuple[str, ...] = ()  # known categories (empty for numbers)
    parse: Parse = "plain"
    # the training rows' range of a number (None for categories, dates and models saved before 0.2): predictions
    # clip inputs to it, since a linear model extrapolates without limit (cairn.model.ranges)
    low: float | None = None
    high: float | None = None


def truth_levels(feature: FeatureSpec) -> dict[bool, str] | None:
    """The known levels a JSON true and false mean, when a category's levels are true and false in some spelling
    ('True'/'False' from a CSV of booleans): a client sends booleans for them, as the Python API takes them (the
    encoder reads True as 'True')."""
    spelled = {str(level).strip().lower(): str(level) for level in feature.levels}
    if {"true", "false"} <= set(spelled):
        return {True: spelled["true"], False: spelled["false"]}
    return None


def as_model_frame(records: list[dict[str, Any]] | pd.DataFrame, features: list[FeatureSpec]) -> pd.DataFrame:
    """Records as the pipeline sees them, in training and serving alike: training columns in training order,
    numbers as float64 (unparseable text becomes missing), categories as Python objects; absent columns missing."""
    if not isinstance(records, pd.DataFrame):
        columns = as_model_columns(records, features)
        return pd.DataFrame({name: pd.Series(values, dtype=values.dtype) for name, values in columns.items()})
    columns = {}
    for feature in features:
        if feature.name not in records.columns:
            columns[feature.name] = np.full(len(records), np.nan, dtype="float64" if feature.kind == "number"
                                            else object)
        elif feature.kind == "number":
            columns[feature.name] = parsed_numbers(records[feature.name], feature.parse)
        else:
            values = records[feature.name].to_numpy(dtype=object)
            columns[feature.name] = np.where(pd.isna(values), np.nan, values)
    return pd.DataFrame(columns, index=records.index)


def model_frame_for_fit(table: pd.DataFrame, features: list[FeatureSpec]) -> pd.DataFrame:
    """`as_model_frame` for fitting on a large table: category columns held as categories are passed as they are
    (the encoder reads each as the same Python objects, one column at a time) instead of a million-row object
    array per column held for the whole fit."""
    kept = {f.name for f in features if f.kind != "number" and f.name in table.columns
            and isinstance(table[f.name].dtype, pd.CategoricalDtype)}
    parsed = as_model_frame(table, [f for f in features if f.name not in kept])
    return pd.DataFrame({f.name: table[f.name] if f.name in kept else parsed[f.name] for f in features},
                        index=table.index, copy=False)


def as_model_columns(records: list[dict[str, Any]], features: list[FeatureSpec]) -> dict[str, np.ndarray]:
    """JSON-like records as column arrays, the fast input for one request: pandas would cost milliseconds."""
    return {f.name: _column_from_records(records, f) for f in features}


def _column_from_records(records: list[dict[str, Any]], feature: FeatureSpec) -> np.ndarray:
    """One column from JSON-like records, in plain Python: for a handful of rows it beats pandas by far."""
    raw = [record.get(feature.name) for record in records]
    if feature.kind == "number" and feature.parse == "plain":
        return np.array([_as_float(value) for value in raw], dtype="float64")
    if feature.kind == "number":
        return parsed_numbers(pd.Series(raw, dtype=object), feature.parse)
    return np.array([np.nan if value is None else value for value in raw], dtype=object)


def parsed_numbers(values: pd.Series, parse: Parse) -> np.ndarray:
    """A column as float64: plain numbers, numbers written as text, or dates as days since 1970; NaN where a
    value does not read. The one reading of these columns, for a file, a Python call and a served request."""
    if parse == "text_number":
        from cairn.estimators.text_values import parse_text_number

        parsed = [parse_text_number(value) for value in values.to_numpy(dtype=object)]
        return np.array([np.nan if value is None else value for value in parsed], dtype="float64")
    if parse == "date":
        return _days(values)
    return pd.to_numeric(values, errors="coerce").to_numpy("float64")


@dataclass(frozen=True)
class Unread:
    """Values of a number input that did not read as a number or a date ('old' for an age): the model imputes
    them, as training did, and the caller says so (a served request, a scored file)."""

    name: str  # as shown: redacted and clipped by the caller
    count: int
    example: str  # the first such value, as shown
    what: str  # "a number" or "a date"

    def sentence(self) -> str:
        values = counted(self.count, "value", "values")
        return (f"{self.name}: {values} did not read as {self.what}, such as {self.example!r}; the model imputed "
                f"{'it' if self.count == 1 else 'them'}, as training did")


def unread_numbers(table: pd.DataFrame, frame: pd.DataFrame, features: list[FeatureSpec], *,
                   shown: Callable[[str], str]) -> list[Unread]:
    """The number inputs of `table` with text that `frame` (its `as_model_frame`) read as missing, though it is no
    missing-value marker ('N/A', '', ...): a count and the first such text (through `shown`) per input. Columns
    held as numbers have none, and are not looked at."""
    from cairn.estimators.text_values import MISSING_MARKERS

    found = []
    for feature in features:
        if feature.kind != "number" or feature.name not in table.columns:
            continue
        raw = table[feature.name]
        if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
            continue
        lost = raw.notna().to_numpy() & np.isnan(frame[feature.name].to_numpy("float64"))
        if not lost.any():
            continue
        texts = raw[lost].astype(str)
        texts = texts[~texts.str.strip().str.lower().isin(MISSING_MARKERS)]
        if len(texts):
            found.append(Unread(shown(feature.name), len(texts), shown(str(texts.iloc[0])),
                                "a date" if feature.parse == "date" else "a number"))
    return found


def _days(values: pd.Series) -> np.ndarray:
    """Dates as days since 1970-01-01 UTC. Text is read once per distinct value, in UTC, so a column (or a request
    body) whose offsets differ reads as one, not as pandas' 'Mixed timezones detected'; counted in microseconds, so
    a date past 2262 ('9999-12-31', an open end) is far in the future, not wrapped to 1816 as nanoseconds wrap it."""
    if pd.api.types.is_datetime64_any_dtype(values):
        moments = values if values.dt.tz is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
        return _days_of(moments.to_numpy(dtype="datetime64[us]"))
    codes, distinct = pd.factorize(values.astype("string"))
    parsed = pd.to_datetime(pd.Series(distinct, dtype="string"), errors="coerce", format="mixed", utc=True)
    days = _days_of(parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"))
    return np.append(days, np.nan)[codes]  # a missing value's code, -1, picks the NaN at the end


def _days_of(moments: np.ndarray) -> np.ndarray:
    """datetime64[us] as float days since 1970, NaN for NaT."""
    days = moments.astype("int64").astype("float64") / (SECONDS_PER_DAY * 1e6)
    days[np.isnat(moments)] = np.nan
    return days


def _as_float(value: Any) -> float:
    if value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


Inputs = TypeVar("Inputs", pd.DataFrame, dict[str, np.ndarray])


def has_range(feature: FeatureSpec) -> bool:
    return feature.kind == "number" and feature.parse != "date" and feature.low is not None \
        and feature.high is not None


Bounds = list[tuple[str, float, float]]  # (name, low, high) of each number with a training range


def training_bounds(features: list[FeatureSpec]) -> Bounds:
    return [(f.name, float(f.low), float(f.high)) for f in features if has_range(f)]  # type: ignore[arg-type]


def within_training_range(inputs: Inputs, features: list[FeatureSpec], bounds: Bounds | None = None) -> Inputs:
    """The model's inputs with every number clipped to its training range (missing values stay missing).

    One row, the serving case, costs a comparison per number: no copy unless a value is out of range. `bounds`:
    `training_bounds(features)`, computed once by the caller that predicts often."""
    for name, low, high in training_bounds(features) if bounds is None else bounds:
        values = inputs[name]
        if type(values) is np.ndarray and values.shape == (1,):
            value = values.item(0)  # a Python float compares several times faster than a numpy scalar
            if value < low or value > high:
                inputs[name] = np.array([low if value < low else high], dtype="float64")
        elif isinstance(values, pd.Series):
            inputs[name] = values.clip(low, high)
        else:
            inputs[name] = np.clip(np.asarray(values, dtype="float64"), low, high)
    return inputs

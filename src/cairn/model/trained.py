"""The one object that serving, batch scoring and monitoring need: a fitted pipeline and what it expects.

Everything a new record goes through at prediction time (imputation, encoding, derived features, the inverse of
the target transform) lives inside ``pipeline``, so the REST API, ``cairn predict`` and a notebook all apply the
same steps. A registered version is stored as a bundle (cairn.model.bundle): the pipeline pickled alone, the rest
as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

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
            columns[feature.name] = _numbers(records[feature.name], feature.parse)
        else:
            values = records[feature.name].to_numpy(dtype=object)
            columns[feature.name] = np.where(pd.isna(values), np.nan, values)
    return pd.DataFrame(columns, index=records.index)


def as_model_columns(records: list[dict[str, Any]], features: list[FeatureSpec]) -> dict[str, np.ndarray]:
    """JSON-like records as column arrays, the fast input for one request: pandas would cost milliseconds."""
    return {f.name: _column_from_records(records, f) for f in features}


def _column_from_records(records: list[dict[str, Any]], feature: FeatureSpec) -> np.ndarray:
    """One column from JSON-like records, in plain Python: for a handful of rows it beats pandas by far."""
    raw = [record.get(feature.name) for record in records]
    if feature.kind == "number" and feature.parse == "plain":
        return np.array([_as_float(value) for value in raw], dtype="float64")
    if feature.kind == "number":
        return _numbers(pd.Series(raw, dtype=object), feature.parse)
    return np.array([np.nan if value is None else value for value in raw], dtype=object)


def _numbers(values: pd.Series, parse: Parse) -> np.ndarray:
    """A column as float64: plain numbers, numbers written as text, or dates as days since 1970."""
    if parse == "text_number":
        from cairn.estimators.text_values import parse_text_number

        parsed = [parse_text_number(value) for value in values.to_numpy(dtype=object)]
        return np.array([np.nan if value is None else value for value in parsed], dtype="float64")
    if parse == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            moments = values
        else:
            moments = pd.to_datetime(values.astype("string"), errors="coerce", format="mixed")
        nanoseconds = moments.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        nanoseconds[moments.isna().to_numpy()] = np.nan
        return nanoseconds / (SECONDS_PER_DAY * 1e9)
    return pd.to_numeric(values, errors="coerce").to_numpy("float64")


def _as_float(value: Any) -> float:
    if value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


@dataclass
class TrainedModel:
    """A fitted scikit-learn pipeline with its input schema and provenance."""

    name: str
    version: int
    problem: Literal["regression", "binary", "multiclass"]
    target: str
    features: list[FeatureSpec]
    pipeline: Any
    classes: list[Any] | None = None
    run_id: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    personal_columns: list[Any] = field(default_factory=list)  # PiiColumn kept as hashed or masked features
    privacy: Any = None  # the Privacy settings they were protected with
    verdict: str = ""  # the run's verdict when it was registered
    _answer: Any = field(default=None, init=False, repr=False, compare=False)  # compiled on first use, not saved

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def frame(self, records: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
        return as_model_frame(records, self.features)

    def inputs(self, records: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame | dict[str, np.ndarray]:
        """What the pipeline is fed. Records become column arrays, which every pipeline cairn builds accepts (its
        first step is cairn's own); a DataFrame goes through the vectorised path. Personal columns kept as features
        are hashed or masked first, exactly as in training: the REST API calls this too."""
        if self.personal_columns:  # rare, so off the fast path
            table = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)  # [{}] is one row
            return self.frame(self.protected(table))
        if isinstance(records, pd.DataFrame):
            return self.frame(records)
        return as_model_columns(records, self.features)

    def protected(self, table: pd.DataFrame) -> pd.DataFrame:
        """New data with the personal columns kept as features hashed or masked as in training (else as is)."""
        if not self.personal_columns:
            return table
        from cairn.privacy import protect_columns

        return protect_columns(table, found=self.personal_columns, spec=self.privacy).table

    def loggable(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What may be kept of served records (the prediction log, read by `cairn monitor`): the model's inputs
        only, as the model read them (numbers parsed, categories as text), so a field the model does not use never
        lands on disk and monitoring judges the values that were predicted on; personal columns kept as features
        hashed or masked as in training (so they compare with the drift reference); any other text with personal
        data in it (an e-mail typed into a category field) redacted."""
        from cairn.privacy import redact_text

        features = [feature for feature in self.features if any(feature.name in record for record in records)]
        read = as_model_columns(records, features)
        personal = {pii.column for pii in self.personal_columns}
        kept: list[dict[str, Any]] = []
        for row, record in enumerate(records):
            values: dict[str, Any] = {}
            for feature in features:
                if feature.name not in record:
                    continue
                value = read[feature.name][row]
                if feature.kind == "number":
                    values[feature.name] = None if np.isnan(value) else float(value)
                elif value is None or (isinstance(value, float) and np.isnan(value)):
                    values[feature.name] = None
                else:
                    text = str(value)
                    values[feature.name] = text if feature.name in personal else redact_text(text)
            kept.append(values)
        sent = [pii for pii in self.personal_columns if any(pii.column in values for values in kept)]
        if sent:
            from cairn.privacy import protect_columns

            columns = pd.DataFrame({pii.column: [values.get(pii.column) for values in kept] for pii in sent})
            protected = protect_columns(columns, found=sent, spec=self.privacy).table
            for row, values in enumerate(kept):
                for pii in sent:
                    if values.get(pii.column) is not None:
                        values[pii.column] = protected[pii.column].iloc[row]
        return kept

    def predict(self, records: list[dict[str, Any]] | pd.DataFrame) -> np.ndarray:
        return self.answer(self.inputs(records))[0]

    def predict_proba(self, records: list[dict[str, Any]] | pd.DataFrame) -> np.ndarray:
        _, probabilities = self.answer(self.inputs(records))
        if probabilities is None:
            raise AttributeError(f"model {self.name} is a regression model: it has no class probabilities")
        return probabilities

    def answer(self, inputs: pd.DataFrame | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for classification, class probabilities of prepared inputs (see `inputs`), in one
        pass through the fitted steps without scikit-learn's per-call checks (cairn.direct_predict)."""
        from cairn.model.compiled import compile_model, label_of

        if self._answer is None:  # compiled once, with the class order it answers in
            classes = None if self.problem == "regression" else np.asarray(self.pipeline.classes_)
            self._answer = (compile_model(self.pipeline, classes=classes), classes)
        compiled, classes = self._answer
        output = compiled(inputs)
        if classes is None:
            return np.asarray(output), None
        return label_of(output, classes), output

    def __getstate__(self) -> dict[str, Any]:
        """Picklable after predicting (multiprocessing, caches): the compiled answer is a closure, made again."""
        return {**self.__dict__, "_answer": None}

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

from cairn.estimators.encoder import known_spelling
from cairn.model.inputs import (
    SECONDS_PER_DAY,
    FeatureKind,
    FeatureSpec,
    Parse,
    as_model_columns,
    as_model_frame,
    training_bounds,
    within_training_range,
)

__all__ = ["SECONDS_PER_DAY", "FeatureKind", "FeatureSpec", "Parse", "TrainedModel", "as_model_columns",
           "as_model_frame"]


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
    # binary: the label is the positive class when its probability reaches `threshold` (tuned out of fold in
    # training); None, as in models saved before them: the most probable class
    threshold: float | None = None
    positive_class: Any = None
    _bounds: Any = field(default=None, init=False, repr=False, compare=False)  # the features' training ranges
    _level_sets: Any = field(default=None, init=False, repr=False, compare=False)  # FeatureSpec.levels as sets
    # the levels of every category input in training (cairn.monitoring.unseen.TrainingLevels), set on a model a
    # project serves (Project.served_model) so /predict names levels training never had; None: not checked
    known_levels: Any = field(default=None, init=False, repr=False, compare=False)
    calibration: Any = None  # cairn.model.calibration.Calibration of its probabilities, fitted out of fold

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def frame(self, records: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
        return as_model_frame(records, self.features)

    def inputs(self, records: list[dict[str, Any]] | pd.DataFrame, *, protected: bool = False
               ) -> pd.DataFrame | dict[str, np.ndarray]:
        """What the pipeline is fed. Records become column arrays, which every pipeline cairn builds accepts (its
        first step is cairn's own); a DataFrame goes through the vectorised path. Personal columns kept as features
        are hashed or masked first, exactly as in training: the REST API calls this too (`protected`: a table
        `self.protected` gave, whose columns are not hashed again). Numbers are clipped to the training range
        (`FeatureSpec.low`/`high`): trees answer the same, linear models no longer extrapolate."""
        if self._bounds is None:  # computed once: the one-row path pays a comparison per number, no more
            self._bounds = training_bounds(self.features)
        if self.personal_columns and not protected:  # rare, so off the fast path
            table = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)  # [{}] is one row
            return within_training_range(self.frame(self.protected(table)), self.features, self._bounds)
        if isinstance(records, pd.DataFrame):
            return within_training_range(self.frame(records), self.features, self._bounds)
        return within_training_range(as_model_columns(records, self.features), self.features, self._bounds)

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
        from cairn.privacy import redact_unseen_level

        features = [feature for feature in self.features if any(feature.name in record for record in records)]
        read = as_model_columns(records, features)
        personal = {pii.column for pii in self.personal_columns}
        if self._level_sets is None:  # built once: the log writer looks up every category value
            self._level_sets = {feature.name: frozenset(feature.levels) for feature in self.features}
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
                    known = self._level_sets[feature.name]
                    text = known_spelling(str(value), known)  # 98115.0 from a file with a gap: 98115
                    if feature.name in personal or text in known:  # protected below, or seen in training
                        values[feature.name] = text
                    else:
                        values[feature.name] = redact_unseen_level(text)
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

    def explain(self, records: list[dict[str, Any]] | pd.DataFrame) -> Any:
        """Each input's contribution to each record's answer (cairn.explain.Explanations; `.row(i)` for one),
        through the same input path as `predict`. Imported on use: explaining stays off the predict path."""
        from cairn.explain import explain

        return explain(self, records)

    def answer(self, inputs: pd.DataFrame | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for classification, class probabilities of prepared inputs (see `inputs`), in one
        pass through the fitted steps without scikit-learn's per-call checks (cairn.direct_predict)."""
        from cairn.model.compiled import compile_model, label_of

        if self._answer is None:  # compiled once, with the class order it answers in
            classes = None if self.problem == "regression" else np.asarray(self.pipeline.classes_)
            self._answer = (compile_model(self.pipeline, classes=classes), classes)
        compiled, classes = self._answer
        if _rows(inputs) == 0:  # nothing to predict: some estimators cannot even shape an empty answer
            return (np.empty(0), None) if classes is None else (np.empty(0, dtype=classes.dtype),
                                                                np.empty((0, len(classes))))
        output = compiled(inputs)
        if classes is None:
            return np.asarray(output), None
        if self.calibration is not None:
            output = self.calibration.probabilities(output, positive_column=self.positive_column)
        return label_of(output, classes, threshold=self.threshold, positive=self.positive_class), output

    @property
    def positive_column(self) -> int:
        """The column of the positive class in the pipeline's probabilities (binary; the last by default)."""
        classes = np.asarray(getattr(self.pipeline, "classes_", self.classes or [])).tolist()
        return classes.index(self.positive_class) if self.positive_class in classes else 1

    def __getstate__(self) -> dict[str, Any]:
        """Picklable after predicting (multiprocessing, caches): the compiled answer is a closure, made again."""
        return {**self.__dict__, "_answer": None, "_bounds": None}


def _rows(inputs: pd.DataFrame | dict[str, np.ndarray]) -> int:
    """Rows of prepared inputs: a frame's length, or a column's."""
    if isinstance(inputs, pd.DataFrame):
        return len(inputs)
    return len(next(iter(inputs.values()))) if inputs else 0

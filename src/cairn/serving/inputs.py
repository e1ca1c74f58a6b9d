"""How validated rows reach the pipeline: column arrays when it reads them, a DataFrame otherwise.

Both carry the values ``TrainedModel`` would give the pipeline; which one a model gets is decided once, at start-up,
on a warm-up record, so the first real request does not pay for lazy initialisation either.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fastapi.exceptions import RequestValidationError

from cairn.model.trained import TrainedModel
from cairn.serving.payloads import plain
from cairn.serving.schemas import ParsedBody, RecordValidator

__all__ = ["InputBuilder", "choose_input", "input_builders", "pipeline_input", "protected_input",
           "warm_up_sample"]

logger = logging.getLogger(__name__)

InputBuilder = Callable[[ParsedBody], Any]


def input_builders(model: TrainedModel, validator: RecordValidator) -> dict[str, InputBuilder]:
    """Two ways to hand validated rows to the pipeline, both with the values ``TrainedModel`` would give it.

    ``columns``: a dict of column arrays, as ``as_model_columns`` builds (no pandas), for pipelines whose first
    step reads a mapping, like cairn's ``TabularEncoder``. ``frame``: a DataFrame like ``TrainedModel.frame``
    (float64 numbers, object categories), for any scikit-learn pipeline, such as a ``ColumnTransformer``. It is
    built from two blocks rather than column by column, which is several times faster on one row.
    """
    feature_names = model.feature_names
    number_names, category_names = validator.number_names, validator.category_names

    def blocks(parsed: ParsedBody) -> tuple[np.ndarray, np.ndarray]:
        rows = len(parsed.numbers)
        numbers = np.array(parsed.numbers, dtype="float64").reshape(rows, len(number_names))
        categories = np.empty((rows, len(category_names)), dtype=object)
        if category_names:
            categories[:] = parsed.categories
        return numbers, categories

    def columns(parsed: ParsedBody) -> dict[str, np.ndarray]:
        numbers, categories = blocks(parsed)
        by_name = {name: numbers[:, position] for position, name in enumerate(number_names)}
        by_name.update({name: categories[:, position] for position, name in enumerate(category_names)})
        return {name: by_name[name] for name in feature_names}

    def frame(parsed: ParsedBody) -> pd.DataFrame:
        numbers, categories = blocks(parsed)
        parts = []
        if number_names:
            parts.append(pd.DataFrame(numbers, columns=number_names))
        if category_names:
            parts.append(pd.DataFrame(categories, columns=category_names, dtype=object))
        table = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
        return table[feature_names]

    return {"columns": columns, "frame": frame}


def _warm_up_record(model: TrainedModel) -> dict[str, Any]:
    """A record of the features' examples; features without a finite example are left out (imputed)."""
    record: dict[str, Any] = {}
    for feature in model.features:
        example = plain(feature.example)
        if example is None or (isinstance(example, float) and not math.isfinite(example)):
            continue
        record[feature.name] = example if feature.kind == "number" else str(example)
    return record


def warm_up_sample(model: TrainedModel, validator: RecordValidator) -> ParsedBody:
    """The features' examples as a request, or an empty record when the examples do not validate."""
    try:
        return validator.parse(_warm_up_record(model))
    except RequestValidationError:
        return validator.parse({})


def choose_input(model: TrainedModel, validator: RecordValidator, sample: ParsedBody) -> InputBuilder:
    """Column arrays when the pipeline takes them and predicts the same as from a frame; a frame otherwise."""
    builders = input_builders(model, validator)
    from_frame = model.answer(builders["frame"](sample))[0]
    try:
        from_columns = model.answer(builders["columns"](sample))[0]
    except Exception:  # a ColumnTransformer, for one, wants a 2-D table
        return builders["frame"]
    if np.shape(from_columns) != np.shape(from_frame) or not np.array_equal(from_columns, from_frame):
        logger.warning("model %s v%s predicts differently from column arrays; using DataFrames", model.name,
                       model.version)
        return builders["frame"]
    return builders["columns"]


def pipeline_input(model: TrainedModel, validator: RecordValidator, sample: ParsedBody) -> InputBuilder:
    """``choose_input``, unless columns were hashed or masked in training: then the model's own path protects them."""
    if not model.personal_columns:
        return choose_input(model, validator, sample)
    return protected_input(model)


def protected_input(model: TrainedModel) -> InputBuilder:
    """The records through ``TrainedModel.inputs``, which hashes or masks personal columns as training did."""

    def protected(parsed: ParsedBody) -> Any:
        return model.inputs(parsed.records)

    return protected

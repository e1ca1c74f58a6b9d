"""`cairn export --format mlflow`: a model version as an MLflow model (python_function flavour).

    DIR/MLmodel                     the flavour: loader_module cairn.model.mlflow_pyfunc, the signature
    DIR/data/cairn-model/           cairn's own export (export.json, model/ with its sha256 list, the card)
    DIR/input_example.json          one record from the training schema's example values
    DIR/requirements.txt ...        cairn and the packages the pipeline was fitted with, pinned

The model is cairn's bundle, loaded by cairn (so `mlflow.pyfunc.load_model` needs cairn installed, as the pinned
requirements say) and checked against its sha256 list before anything is unpickled: MLflow adds an interface,
not a second copy of the pipeline. The signature lists every input the model reads, each optional (a missing
value is imputed, as in `cairn serve`), numbers as double, categories of true and false levels as boolean (a
CSV's booleans, which pandas reads as bool) and other categories (and dates or numbers written as text, parsed by
cairn) as string. MLflow itself refuses an int64 column for a double one (its rule for integer columns that may be
missing): cast integer columns to float before `predict` (`cairn export` says so); JSON sent to `mlflow models
serve` is cast by MLflow from the signature. Numbers stay double, not long where training had whole numbers: a
long column refuses a missing value, which cairn imputes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cairn.errors import ConfigError
from cairn.model.inputs import FeatureSpec, truth_levels
from cairn.model.trained import TrainedModel

__all__ = ["LOADER_MODULE", "MODEL_DATA", "input_example", "signature_columns", "write_mlflow_model"]

LOADER_MODULE = "cairn.model.mlflow_pyfunc"
MODEL_DATA = "cairn-model"  # the folder of cairn's export inside the MLflow model's data/


def write_mlflow_model(model: TrainedModel, contents: dict[str, bytes], *, requirements: list[str],
                       to: Path, workspace: Path) -> None:
    """Writes the MLflow model of `model` into the new folder `to`; `contents` are cairn's export files (relative
    path -> bytes), written under data/cairn-model; `workspace` is a scratch folder beside `to`."""
    try:
        import mlflow.pyfunc
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema
    except ImportError:
        raise ConfigError.single(
            "Exporting to MLflow needs MLflow, which is not installed.", where="--format mlflow",
            expected="the mlflow-skinny package", got="not installed",
            fix="pip install 'cairn[mlflow]' (or mlflow-skinny), then export again") from None
    data = workspace / MODEL_DATA
    for relative, body in contents.items():
        path = data / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    inputs = Schema([ColSpec(kind, name, required=False) for name, kind in signature_columns(model)])
    outputs = Schema([ColSpec(kind, name) for name, kind in _output_columns(model)])
    import pandas as pd

    example = pd.DataFrame([input_example(model)])
    mlflow.pyfunc.save_model(path=str(to), loader_module=LOADER_MODULE, data_path=str(data),
                             signature=ModelSignature(inputs=inputs, outputs=outputs), input_example=example,
                             pip_requirements=requirements)


def signature_columns(model: TrainedModel) -> list[tuple[str, str]]:
    """(name, MLflow type) of each input, in training order: what the model reads as numbers is double, a category
    of true and false levels (a CSV's booleans) boolean, anything else cairn parses from text (categories, dates,
    numbers written as text) string."""
    return [(feature.name, "double" if feature.kind == "number" and feature.parse == "plain"
             else "boolean" if feature.kind == "category" and _booleans(feature) else "string")
            for feature in model.features]


def _booleans(feature: FeatureSpec) -> bool:
    """A category whose only levels are true and false (a CSV's booleans): a third level ('Unknown') keeps the
    column text, which MLflow would refuse for a boolean one."""
    return len(feature.levels) == 2 and truth_levels(feature) is not None


def input_example(model: TrainedModel) -> dict[str, Any]:
    """One record of the training schema: each input's example value from the training data (None where the
    schema has none: the model imputes it)."""
    record: dict[str, Any] = {}
    for name, kind in signature_columns(model):
        example = next(feature.example for feature in model.features if feature.name == name)
        if example is None or (isinstance(example, float) and math.isnan(example)):
            record[name] = None
        elif kind == "double":
            record[name] = float(example)
        elif kind == "boolean":
            record[name] = str(example).strip().lower() == "true"
        else:
            record[name] = str(example)
    return record


def _output_columns(model: TrainedModel) -> list[tuple[str, str]]:
    if model.problem == "regression" or not model.classes:
        return [("prediction", "double")]
    kinds = {type(label) for label in model.classes}
    label = ("long" if kinds <= {int} else "double" if kinds <= {int, float} else "string")
    return [("prediction", label), *((f"probability_{name}", "double") for name in model.classes)]

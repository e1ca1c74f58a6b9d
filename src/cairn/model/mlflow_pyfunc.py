"""The loader MLflow calls for a model that `cairn export --format mlflow` wrote (python_function flavour).

MLflow's MLmodel names this module as `loader_module`; `mlflow.pyfunc.load_model(DIR)` calls `_load_pyfunc` with
the folder of cairn's own export inside the MLflow model (data/cairn-model: export.json and the bundle), which is
read through `load_exported`, so every file is checked against its sha256 before anything is unpickled. The
predictions are `TrainedModel.answer`'s, the same as `cairn predict` and `cairn serve` give for the same rows.

This module imports nothing from MLflow: MLflow imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cairn.model.exported import load_exported
from cairn.model.trained import TrainedModel

__all__ = ["CairnPyfunc", "_load_pyfunc"]


class CairnPyfunc:
    """What `mlflow.pyfunc.load_model` wraps: `predict(table)` gives a table with a `prediction` column and, for
    classifiers, one `probability_<class>` column per class, as `cairn predict` writes them."""

    def __init__(self, model: TrainedModel):
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        table = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        labels, probabilities = self.model.answer(self.model.inputs(table))
        scored = pd.DataFrame({"prediction": labels}, index=table.index)
        if probabilities is not None and self.model.classes:
            for index, label in enumerate(self.model.classes):
                scored[f"probability_{label}"] = probabilities[:, index]
        return scored


def _load_pyfunc(data_path: str) -> CairnPyfunc:
    """MLflow's entry point (the name is MLflow's convention for a loader module)."""
    return CairnPyfunc(load_exported(Path(data_path)))

"""Models saved before 0.2.0: one joblib file holding the whole TrainedModel, classes named by their old paths.

Their pickles name classes where they lived then (cairn.transformers, cairn.stages.ensemble, cairn.model...).
Each move since is one entry below; loading maps old names to new ones and converts the old object into today's
TrainedModel. The caller has already checked the file's sha256 against the store's record.
tests/model/test_legacy.py loads a model saved by 0.1.0 and checks that it answers exactly as it did.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import joblib
from joblib import numpy_pickle

from cairn.model.trained import FeatureSpec, TrainedModel

MOVED_MODULES = {
    "cairn.transformers": "cairn.estimators.encoder",
    "cairn.shapes": "cairn.estimators.shapes",
    "cairn.target_encoding": "cairn.estimators.target_means",
    "cairn.native_categories": "cairn.estimators.native_categories",
    "cairn.catboost_codes": "cairn.estimators.catboost_codes",
    "cairn.forests": "cairn.estimators.forests",
    "cairn.stages.ensemble": "cairn.estimators.blends",
    "cairn.stages.data.privacy": "cairn.privacy",
}
MOVED_NAMES = {
    ("cairn.model", "TrainedModel"): ("cairn.model.legacy", "SavedModel"),
    ("cairn.model", "FeatureSpec"): ("cairn.model.trained", "FeatureSpec"),
    ("cairn.stages.selection", "EncodedLabels"): ("cairn.estimators.labels", "EncodedLabels"),
    ("cairn.stages.features", "log1p_target"): ("cairn.estimators.target_transforms", "log1p_target"),
    ("cairn.stages.features", "expm1_target"): ("cairn.estimators.target_transforms", "expm1_target"),
}
_LOADING = threading.Lock()  # the renaming unpickler is swapped into joblib for one load at a time
_JOBLIB_UNPICKLER = numpy_pickle.NumpyUnpickler  # joblib's own, taken once at import: always what is restored


class _RenamingUnpickler(_JOBLIB_UNPICKLER):  # type: ignore[misc, valid-type]
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(*renamed(module, name))


class SavedModel:
    """The state of a 0.1.0 TrainedModel, as unpickled; `upgraded` turns it into today's."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state

    def upgraded(self) -> TrainedModel:
        state = self.state
        return TrainedModel(
            name=state["name"], version=state["version"], problem=state["problem"], target=state["target"],
            features=[FeatureSpec(f.name, f.kind, f.example, tuple(f.levels), f.parse) for f in state["features"]],
            pipeline=state["pipeline"], classes=state.get("classes"), run_id=state.get("run_id"),
            metrics=dict(state.get("metrics") or {}), personal_columns=list(state.get("personal_columns") or []),
            privacy=state.get("privacy"),
        )


def renamed(module: str, name: str) -> tuple[str, str]:
    """Where a class or function saved as module.name lives today."""
    if (module, name) in MOVED_NAMES:
        return MOVED_NAMES[module, name]
    return MOVED_MODULES.get(module, module), name


def load_legacy(data: bytes) -> TrainedModel:
    """joblib's loader with old class paths mapped to today's. joblib offers no public hook for the unpickler, so
    its class is swapped for the one load, under a lock, and joblib's own is always put back."""
    with _LOADING:
        numpy_pickle.NumpyUnpickler = _RenamingUnpickler
        try:
            saved = joblib.load(io.BytesIO(data))
        finally:
            numpy_pickle.NumpyUnpickler = _JOBLIB_UNPICKLER
    if not isinstance(saved, SavedModel):
        raise TypeError(f"expected a model saved by cairn 0.1, got {type(saved).__name__}")
    return saved.upgraded()

"""What ``GET /health`` and ``GET /metadata`` say about the model: fixed for the app's life, so serialised once."""

from __future__ import annotations

from typing import Any

from cairn.model.trained import TrainedModel
from cairn.serving.payloads import json_bytes, plain
from cairn.serving.schemas import WRITTEN

__all__ = ["health_body", "metadata", "metadata_body"]


def health_body(model: TrainedModel) -> bytes:
    return json_bytes({"status": "ok", "model": model.name, "version": model.version})


def metadata(model: TrainedModel) -> dict[str, Any]:
    """The model and its inputs, as the ``Metadata`` schema describes them."""
    classes = None if model.classes is None else [plain(label) for label in model.classes]
    return {
        "name": model.name,
        "version": model.version,
        "problem": model.problem,
        "target": model.target,
        "features": [{"name": feature.name, "kind": feature.kind, "levels": [str(level) for level in feature.levels],
                      "written_as": feature.parse if feature.parse in WRITTEN else None}
                     for feature in model.features],
        "classes": classes,
        "run_id": model.run_id,
        "metrics": {name: float(value) for name, value in model.metrics.items()},
    }


def metadata_body(model: TrainedModel) -> bytes:
    return json_bytes(metadata(model))

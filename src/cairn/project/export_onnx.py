"""`cairn export --format onnx`: the fitted pipeline as one ONNX graph, beside a README saying how to feed it.

    DIR/model.onnx     inputs: one per feature, [N, 1]; outputs: prediction [N], a classifier's probabilities
                       [N, classes] (cairn.model.onnx)
    DIR/inputs.json    each input's name, ONNX type and example value, the tolerance against cairn's answers
    DIR/README.md      how to run it with onnxruntime
    DIR/SHA256SUMS     over every file
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cairn._version import __version__
from cairn.hashing import sha256_bytes
from cairn.model.onnx import OPSET, TOLERANCE_RTOL, to_onnx
from cairn.model.trained import TrainedModel

__all__ = ["write_onnx_model"]


def write_onnx_model(model: TrainedModel, *, to: Path) -> None:
    """Converts `model` (a ConfigError naming the step that does not convert) and writes the new folder `to`."""
    graph = to_onnx(model).SerializeToString()
    inputs = [{"name": feature.name, "type": "double" if feature.kind == "number" else "string", "shape": [None, 1],
               "example": feature.example, "missing": "NaN" if feature.kind == "number" else '""',
               **({"unit": "days since 1970-01-01"} if feature.parse == "date" else {})}
              for feature in model.features]
    described = {"format": "cairn.onnx", "cairn_version": __version__, "name": model.name, "version": model.version,
                 "problem": model.problem, "target": model.target, "opset": OPSET, "inputs": inputs,
                 "outputs": _outputs(model),
                 "tolerance_rtol": TOLERANCE_RTOL}
    contents = {"model.onnx": graph, "inputs.json": (json.dumps(described, indent=1, default=str) + "\n").encode(),
                "README.md": _readme(model, inputs).encode()}
    contents["SHA256SUMS"] = "".join(f"{sha256_bytes(data)}  {name}\n"
                                     for name, data in sorted(contents.items())).encode()
    to.mkdir(parents=True)
    for name, data in contents.items():
        (to / name).write_bytes(data)


def _outputs(model: TrainedModel) -> list[dict[str, Any]]:
    if model.problem == "regression":
        return [{"name": "prediction", "type": "double", "shape": [None]}]
    classes = list(model.classes or [])
    label = "int64" if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes) else "string"
    return [{"name": "prediction", "type": label, "shape": [None]},
            {"name": "probabilities", "type": "double", "shape": [None, len(classes)], "classes": classes}]


def _readme(model: TrainedModel, inputs: list[dict[str, Any]]) -> str:
    example = {item["name"]: item["example"] for item in inputs[:3]}
    return f"""\
# {model.name} v{model.version} as ONNX, exported by cairn {__version__}

Predicts `{model.target}` ({model.problem}) with onnxruntime alone: cairn's encoder, the model and the inverse
target transform are nodes of model.onnx (opset {OPSET}, ai.onnx.ml 3); nothing is unpickled.

## Run it
    import numpy as np, onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    # one [N, 1] array per input: numbers float64 (np.nan when missing; a date as days since 1970-01-01),
    # categories str ("" when missing)
    record = {json.dumps(example, default=str)}
    feeds = {{i.name: np.array([[record.get(i.name, np.nan if i.type == "tensor(double)" else "")]],
                               dtype=np.float64 if i.type == "tensor(double)" else object)
             for i in session.get_inputs()}}
    prediction = session.run(["prediction"], feeds)[0]   # a classifier answers "probabilities" too

Every input must be fed (inputs.json lists them, with an example value each). Numbers are clipped to their
training range inside the graph, as `cairn predict` clips them.

## How close to cairn
Within a relative {TOLERANCE_RTOL:g} of `cairn predict` on the holdout. Category text is cleaned as cairn cleans
it (trimmed, spaces folded, lower-cased, "NA" and the like missing), except that tabs are not spaces and only ASCII
capitals are lower-cased here. Needs onnxruntime 1.17 or later (opset {OPSET}).
"""

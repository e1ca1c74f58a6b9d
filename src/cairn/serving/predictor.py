"""One prediction request, from validated rows to the response bytes, and the warm-up that proves it works."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cairn.model.trained import TrainedModel
from cairn.serving.inputs import InputBuilder, input_builders, pipeline_input, warm_up_sample
from cairn.serving.payloads import json_bytes, plain
from cairn.serving.schemas import ParsedBody, RecordValidator

__all__ = ["CLASSIFICATION", "Predictor", "class_labels", "start_predictor"]

logger = logging.getLogger(__name__)

CLASSIFICATION = ("binary", "multiclass")


def class_labels(model: TrainedModel) -> list[str]:
    """Probability keys, in the column order of ``predict_proba`` (the pipeline's own ``classes_``)."""
    labels = getattr(model.pipeline, "classes_", None)
    if labels is None:
        labels = model.classes
    if labels is None:
        raise ValueError(f"model {model.name!r} is a {model.problem} model but neither its pipeline nor "
                         "TrainedModel.classes names the classes")
    return [str(plain(label)) for label in labels]


@dataclass(frozen=True)
class Predictor:
    """The model with the input path chosen for it; ``labels`` is None for regression (no probabilities)."""

    model: TrainedModel
    pipeline_input: InputBuilder
    labels: list[str] | None

    def answer(self, parsed: ParsedBody) -> tuple[bytes, list[Any]]:
        """The response body, serialised, and the predictions as plain values for the monitoring hook."""
        predictions, class_probabilities = self.model.answer(self.pipeline_input(parsed))
        served = predictions.tolist()
        content: dict[str, Any] = {"prediction": served[0]} if parsed.single else {"predictions": served}
        if self.labels is not None:
            if class_probabilities is None:
                raise TypeError(f"model {self.model.name!r} is a {self.model.problem} model but gave no "
                                "class probabilities")
            probabilities = [dict(zip(self.labels, row, strict=True)) for row in class_probabilities.tolist()]
            content["probabilities"] = probabilities[0] if parsed.single else probabilities
        content["model"], content["version"] = self.model.name, self.model.version
        return json_bytes(content), served


def start_predictor(model: TrainedModel, validator: RecordValidator,
                    labels: list[str] | None) -> tuple[Predictor, str | None]:
    """The predictor, warmed up on a sample record, and why it failed to predict it (None when it did not fail).

    A model that fails still gets a predictor (fed DataFrames), so ``/health`` answers while ``/ready`` says why.
    """
    try:
        sample = warm_up_sample(model, validator)
        predictor = Predictor(model, pipeline_input(model, validator, sample), labels)
        predictor.answer(sample)
    except Exception as error:
        logger.exception("model %s v%s cannot predict its warm-up record", model.name, model.version)
        fallback = Predictor(model, input_builders(model, validator)["frame"], labels)
        return fallback, f"the model cannot predict a sample record: {error!r}"
    return predictor, None

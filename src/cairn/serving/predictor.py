"""One prediction request, from validated rows to the response bytes, and the warm-up that proves it works."""

from __future__ import annotations

import itertools
import logging
import math
import os
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import numpy as np

from cairn.model.trained import TrainedModel
from cairn.serving.inputs import InputBuilder, input_builders, pipeline_input, protected_input, warm_up_sample
from cairn.serving.payloads import json_bytes, plain
from cairn.serving.schemas import ParsedBody, RecordValidator, reject, shown

__all__ = ["CLASSIFICATION", "Predictor", "class_labels", "prediction_ids", "start_predictor"]

logger = logging.getLogger(__name__)

CLASSIFICATION = ("binary", "multiclass")

CULPRIT_TRIALS = 2_000
"""At most this many records are re-predicted to find which field made an answer overflow (off the fast path)."""


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
    validator: RecordValidator | None = None  # names the fields of an answer that overflows

    def answer(self, parsed: ParsedBody) -> tuple[bytes, list[Any], list[str | int]]:
        """The response body, serialised, the predictions as plain values and their prediction ids (the record's
        own ``id``, else a fresh one) for the monitoring hook.

        A prediction that is not a finite number (a value so far outside the training data that the model's
        answer overflows, like ``expm1`` of a huge log-price) is a 422 naming the field(s) to blame: JSON cannot
        carry it, and an infinite price is no answer.
        """
        predictions, class_probabilities = self.model.answer(self.pipeline_input(parsed))
        served = predictions.tolist()
        if self.labels is None and not (math.isfinite(served[0]) if parsed.single
                                        else bool(np.isfinite(predictions).all())):
            reject(self._overflow_errors(parsed, predictions))
        ids = prediction_ids(parsed)
        content: dict[str, Any] = ({"prediction": served[0], "prediction_id": ids[0]} if parsed.single
                                   else {"predictions": served, "prediction_ids": ids})
        if self.labels is not None:
            if class_probabilities is None:
                raise TypeError(f"model {self.model.name!r} is a {self.model.problem} model but gave no "
                                "class probabilities")
            probabilities = [dict(zip(self.labels, row, strict=True)) for row in class_probabilities.tolist()]
            content["probabilities"] = probabilities[0] if parsed.single else probabilities
        content["model"], content["version"] = self.model.name, self.model.version
        if parsed.warnings:
            content["warnings"] = list(parsed.warnings)
        try:
            return json_bytes(content), served, ids
        except ValueError:  # a NaN probability, say: never a 500, never an invalid JSON body
            reject([{"loc": ["body"], "type": "non_finite_answer", "input": None,
                     "msg": "The model's answer is not a finite number (NaN or infinite), which JSON cannot carry: "
                            "check the values sent against the training data"}])

    def _overflow_errors(self, parsed: ParsedBody, predictions: np.ndarray) -> list[dict[str, Any]]:
        """One error per field to blame for a non-finite answer, found by predicting the record again: without
        that field (imputed) the answer is finite, or with that field alone (the others imputed) it is not.
        A record no field can be blamed for gets one error of its own."""
        bad_rows = np.flatnonzero(~np.isfinite(np.asarray(predictions, dtype="float64"))).tolist()
        names = ([*self.validator.number_names, *self.validator.category_names]
                 if self.validator is not None else [])
        numbers_count = len(self.validator.number_names) if self.validator is not None else 0
        trials: list[tuple[int, str, bool]] = []  # (row, field, alone): without it, or with it alone
        # first, the record with every field imputed: "alone" only blames a field when that one is finite
        trial = ParsedBody(records=[{}], single=False, numbers=[[math.nan] * numbers_count],
                           categories=[[math.nan] * (len(names) - numbers_count)])
        for row in bad_rows:
            record = parsed.records[row]
            sent = [(position, name) for position, name in enumerate(names) if record.get(name) is not None]
            if trials and len(trials) + 2 * len(sent) > CULPRIT_TRIALS:
                break
            for position, name in sent:
                is_number = position < numbers_count
                offset = position if is_number else position - numbers_count
                for alone in (False, True):
                    trials.append((row, name, alone))
                    if alone:
                        trial.records.append({name: record[name]})
                        numbers, categories = [math.nan] * numbers_count, [math.nan] * (len(names) - numbers_count)
                        sent_block = parsed.numbers[row] if is_number else parsed.categories[row]
                        (numbers if is_number else categories)[offset] = sent_block[offset]
                    else:
                        trial.records.append({key: value for key, value in record.items() if key != name})
                        numbers, categories = list(parsed.numbers[row]), list(parsed.categories[row])
                        (numbers if is_number else categories)[offset] = math.nan
                    trial.numbers.append(numbers)
                    trial.categories.append(categories)
        finite: list[bool] = []
        if trials:
            try:
                answers = np.asarray(self.model.answer(self.pipeline_input(trial))[0], dtype="float64")
                finite = np.isfinite(answers).tolist()
            except Exception:  # the search is a courtesy: without it the record is still refused, unnamed
                logger.exception("could not predict again to find the field behind a non-finite answer")
        baseline_finite = bool(finite) and finite[0]
        blamed: dict[int, list[str]] = {}
        for (row, name, alone), is_finite in zip(trials, finite[1:], strict=False):
            to_blame = (not is_finite and baseline_finite) if alone else is_finite
            if to_blame and name not in blamed.setdefault(row, []):
                blamed[row].append(name)
        errors: list[dict[str, Any]] = []
        for row in bad_rows:
            prefix: list[str | int] = ["body"] if parsed.single else ["body", row]
            for name in blamed.get(row, []):
                value = parsed.records[row][name]
                errors.append({"loc": [*prefix, name], "type": "value_out_of_range", "input": value,
                               "msg": f"Value {shown(value)} is far outside the values the model was trained on: "
                                      "with it the model's answer is not a finite number. Check the value and its "
                                      "unit, or send null to have it imputed"})
            if not blamed.get(row):
                errors.append({"loc": prefix, "type": "value_out_of_range", "input": None,
                               "msg": "The model's answer for this record is not a finite number: its values are too "
                                      "far outside the values the model was trained on. Check its largest numbers"})
        return errors


_ID_PREFIX = uuid4().hex[:20]  # random per process: several workers never make the same id
_ID_COUNTER = itertools.count()  # next() is atomic under the GIL


def _new_prefix() -> None:
    """A forked worker (gunicorn --preload) draws its own prefix."""
    global _ID_PREFIX
    _ID_PREFIX = uuid4().hex[:20]


os.register_at_fork(after_in_child=_new_prefix)


def new_prediction_id() -> str:
    """32 hex digits, unique: the process's random prefix and a counter (0.2 µs, where uuid4 reads the OS's
    random source for each: 2-10 µs on a busy machine)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def prediction_ids(parsed: ParsedBody) -> list[str | int]:
    """One id per record: the client's own where it sent one, else a new one."""
    if parsed.ids is None:
        return [new_prediction_id() for _ in parsed.records]
    return [new_prediction_id() if given is None else given for given in parsed.ids]


def start_predictor(model: TrainedModel, validator: RecordValidator,
                    labels: list[str] | None) -> tuple[Predictor, str | None]:
    """The predictor, warmed up on a sample record, and why it failed to predict it (None when it did not fail).

    A model that fails still gets a predictor (fed DataFrames), so ``/health`` answers while ``/ready`` says why.
    """
    try:
        sample = warm_up_sample(model, validator)
        predictor = Predictor(model, pipeline_input(model, validator, sample), labels, validator)
        predictor.answer(sample)
    except Exception as error:
        logger.exception("model %s v%s cannot predict its warm-up record", model.name, model.version)
        # never a path that skips hashing or masking: a model with personal columns keeps the protected input
        builder = protected_input(model) if model.personal_columns else input_builders(model, validator)["frame"]
        fallback = Predictor(model, builder, labels, validator)
        return fallback, f"the model cannot predict a sample record: {error!r}"
    return predictor, None

"""What the REST API accepts and returns, derived from the training schema (``TrainedModel.features``).

Two views of the same contract:

* ``record_model`` builds a pydantic model of one record for the OpenAPI schema, so ``/docs`` and generated
  clients see every field with its kind, known levels and an example.
* ``RecordValidator`` checks request bodies by hand. It is what ``POST /predict`` runs: one pass over the fields
  that reports every bad field at once and fills the two column blocks the pipeline needs, without building
  pydantic objects or a throwaway DataFrame per request.

A key the model does not use (a training column dropped as constant, an ID, the client's own bookkeeping) is not an
error: a training row minus its target is a valid request. Such keys are ignored, never logged, and named in the
response's ``warnings``, with a "did you mean" when one is a close match of a model input, so typos stay visible.

The two views agree on field names and kinds (``tests/serving/test_app.py`` checks them against each other); the
validator is a little more lenient in one place: an integer sent for a category is read as that level ("20").
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import numpy as np
import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, create_model

from cairn.model.inputs import Unread, has_range, parsed_numbers, truth_levels
from cairn.model.ranges import OutOfRange, range_warnings
from cairn.model.trained import FeatureSpec
from cairn.monitoring.reference import level_key
from cairn.privacy import redact_text

__all__ = [
    "FeatureInfo",
    "FieldError",
    "Health",
    "Metadata",
    "ParsedBody",
    "Prediction",
    "Predictions",
    "Feedback",
    "FeedbackAnswer",
    "Readiness",
    "RecordValidator",
    "RequestErrors",
    "TooLarge",
    "Unauthorized",
    "record_model",
    "reject",
    "shown",
]

LEVELS_SHOWN = 30  # levels listed in a field's description; the full list is in GET /metadata
WRITTEN = ("date", "text_number")  # number inputs the training data wrote as text: a request may too
KNOWN_MEMORY = 100_000  # category values remembered as known or not, per served model (a few MB at most)


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy scalars unwrapped, missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _field_description(feature: FeatureSpec) -> str:
    if feature.parse == "date":
        return ("A date or time, written as in the training data (see the example), or a JSON number of days since "
                "1970-01-01. Missing, null or text that is not a date: the model imputes it.")
    if feature.parse == "text_number":
        return ("A number, or text written as in the training data (see the example: currency signs, thousands "
                "separators and percent signs are read). Missing, null or text that is not a number: the model "
                "imputes it.")
    if feature.kind == "number":
        return "A number. Missing or null: the model imputes it."
    if feature.parse == "text":
        return "Free text: the model reads its length and its counts of words and digits. Missing or null: empty."
    if not feature.levels:
        return "A category. Missing or null: the model imputes it."
    shown = ", ".join(str(level) for level in feature.levels[:LEVELS_SHOWN])
    more = len(feature.levels) - LEVELS_SHOWN
    if more > 0:
        shown += f" and {more} more (see GET /metadata)"
    return (f"A category; known levels: {shown}. Other values are accepted and treated as unseen. "
            "Missing or null: the model imputes it.")


def _field_example(feature: FeatureSpec) -> Any:
    example = _plain(feature.example)
    if example is None and feature.levels:
        example = feature.levels[0]
    return example


def _python_name(name: str, position: int) -> str:
    """The attribute name for a feature: itself when pydantic can use it, else a safe stand-in (with an alias)."""
    if name.isidentifier() and not name.startswith("_") and not hasattr(BaseModel, name):
        return name
    return f"field_{position}"


def record_model(features: Sequence[FeatureSpec], *, name: str = "Record") -> type[BaseModel]:
    """One record as a pydantic model: every field optional, numbers as float (or text, for dates and numbers the
    training data wrote as text), categories as str; other keys are allowed (``additionalProperties: true``):
    ``/predict`` ignores them and names them in its ``warnings``.

    Categories are not an enum: an unseen level is valid input (the encoder ignores it), so the known levels go
    in the description and the examples instead.
    """
    fields: dict[str, Any] = {}
    example: dict[str, Any] = {}
    for position, feature in enumerate(features):
        annotation: Any = (float | str | None if feature.parse in WRITTEN else float | None
                           if feature.kind == "number" else str | bool | None if truth_levels(feature) else str | None)
        field_example = _field_example(feature)
        examples = [field_example] if field_example is not None else None
        if feature.kind == "category" and feature.levels:
            examples = list(dict.fromkeys([field_example, *feature.levels]))[:5]
        if field_example is not None:
            example[feature.name] = field_example
        python_name = _python_name(feature.name, position)
        alias = feature.name if python_name != feature.name else None
        fields[python_name] = (annotation, Field(default=None, alias=alias, title=feature.name,
                                                 description=_field_description(feature), examples=examples))
    config = ConfigDict(extra="allow", populate_by_name=False,
                        json_schema_extra={"examples": [example]} if example else None)
    return create_model(name, __config__=config, __doc__=(
        "One record: the model's input fields. Other keys are accepted and ignored (named in the answer's "
        "warnings), but for \"id\": your own prediction id (a string or an integer, up to 128 characters), "
        "answered as prediction_id and quoted in POST /feedback."), **fields)


WARNINGS_DESCRIPTION = ("Present when the request had keys the model does not use: they were ignored (and not "
                        "logged); a key close to a model input gets a \"did you mean\". Also names numbers clipped "
                        "to the training range, text that did not read as a number, and category levels the "
                        "training rows never had (with what the model reads them as).")


PREDICTION_ID_DESCRIPTION = ("Quote it in POST /feedback with the true value: the record's own \"id\" when it "
                             "sent one, else one made for it.")


class Prediction(BaseModel):
    """The answer for one record."""

    prediction: float | int | str | bool
    prediction_id: str | int = Field(description=PREDICTION_ID_DESCRIPTION)
    probabilities: dict[str, float] | None = Field(
        default=None, description="Classification only: the probability of each class.")
    model: str
    version: int
    warnings: list[str] | None = Field(default=None, description=WARNINGS_DESCRIPTION)


class Predictions(BaseModel):
    """The answers for an array of records, in the same order."""

    predictions: list[float | int | str | bool]
    prediction_ids: list[str | int] = Field(description="Per record, in the same order: " + PREDICTION_ID_DESCRIPTION)
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="Classification only: per record, the probability of each class.")
    model: str
    version: int
    warnings: list[str] | None = Field(default=None, description=WARNINGS_DESCRIPTION)


class Feedback(BaseModel):
    """The true value for one served prediction."""

    model_config = ConfigDict(extra="forbid")

    id: str | int = Field(description="The prediction_id /predict answered with (or the record's own id).")
    actual: float | int | str | bool = Field(description="The true value of the target: a number for regression, "
                                             "one of the model's classes for classification.")


class FeedbackAnswer(BaseModel):
    """What became of the feedback sent."""

    accepted: int = Field(description="Items stored, matched to a prediction this model served.")
    unknown_ids: int = Field(description="Items whose id matches no logged prediction: not stored.")
    unknown: list[str | int] = Field(description="The first few unknown ids.")
    model: str
    version: int | None = Field(description="The version that served the matched predictions, when only one did.")
    relabelled: int = Field(0, description="Stored items whose id had a true value already: the newest counts.")


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    version: int


class Readiness(BaseModel):
    status: Literal["ready", "starting", "failed"]
    detail: str | None = None


class FeatureInfo(BaseModel):
    name: str
    kind: Literal["number", "category"]
    levels: list[str]
    written_as: Literal["date", "text_number"] | None = Field(
        default=None, description="A number the training data wrote as text, a date or one like '$45,200': a "
        "request may send it written the same way.")


class Metadata(BaseModel):
    name: str
    version: int
    problem: Literal["regression", "binary", "multiclass"]
    target: str
    features: list[FeatureInfo]
    classes: list[Any] | None
    run_id: int | None
    metrics: dict[str, float]


class FieldError(BaseModel):
    """One bad field, as FastAPI reports it."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class RequestErrors(BaseModel):
    """A 422: every bad field of the request, each with where it is and what was wrong."""

    detail: list[FieldError]


class Unauthorized(BaseModel):
    detail: str


class TooLarge(BaseModel):
    """A 413: the request body is larger than the server accepts."""

    detail: str


@dataclass(frozen=True, eq=False)
class Written:
    """A number sent as text for a field the training data wrote as text, waiting to be read into its row."""

    row: list[float]  # the record's number row, filled in place
    position: int
    text: str
    loc: list[str | int]


@dataclass(frozen=True)
class ParsedBody:
    """A valid request body, split the way the pipeline wants it.

    ``numbers`` and ``categories`` are row-major blocks (one row per record) in the order of
    ``RecordValidator.number_names`` and ``RecordValidator.category_names``; missing values are NaN. ``records``
    hold the model's inputs only (keys it does not use are left out); ``warnings`` name those keys, for the answer.
    """

    records: list[dict[str, Any]]
    single: bool
    numbers: list[list[float]]
    categories: list[list[Any]]
    warnings: tuple[str, ...] = ()
    ids: list[str | int | None] | None = None  # the clients' own prediction ids, per record; None: none sent one


ECHO_CHARS = 100
"""The most characters of any input value a 422 echoes back: a bad 10 MB string is not worth 10 MB of error."""


def _clipped(text: str) -> str:
    """``text`` cut to ``ECHO_CHARS`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "\u2026"


def _non_finite(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


@dataclass(frozen=True)
class _Token:
    """Punctuation waiting on ``_preview``'s stack."""

    text: str


def _preview(value: Any) -> str:
    """The start of ``value`` in JSON spelling, strings redacted: at most a little over ``ECHO_CHARS`` characters.

    Iterative and bounded, so a huge or 100,000-deep array costs what it shows, not what it holds.
    """
    parts: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size <= ECHO_CHARS:
        item = stack.pop()
        if isinstance(item, _Token):
            text = item.text
        elif isinstance(item, dict):
            text = "{"
            stack.append(_Token("}"))
            entries = list(item.items())[:ECHO_CHARS]  # a dict of a million keys shows its first few
            for position in range(len(entries) - 1, -1, -1):
                key, inner = entries[position]
                stack.append(inner)
                stack.append(_Token(json.dumps(_clipped(redact_text(str(key))), ensure_ascii=False) + ":"))
                if position:
                    stack.append(_Token(","))
        elif isinstance(item, list):
            text = "["
            stack.append(_Token("]"))
            head = item[:ECHO_CHARS]
            for position in range(len(head) - 1, -1, -1):
                stack.append(head[position])
                if position:
                    stack.append(_Token(","))
        elif isinstance(item, str):
            text = json.dumps(_clipped(redact_text(item)), ensure_ascii=False)
        elif isinstance(item, float) and not math.isfinite(item):
            text = json.dumps(_non_finite(item))  # "NaN": JSON has no such number
        elif item is None or isinstance(item, bool):
            text = json.dumps(item)
        else:
            text = _clipped(repr(item))
        parts.append(text)
        size += len(text)
    return "".join(parts)


def _echoed(value: Any) -> Any:
    """The bad input as the error echoes it: at most ``ECHO_CHARS`` characters of it, strings redacted.

    Python's json reads NaN, Infinity and 1e400, which JSON cannot carry: they are echoed as their names. An
    object or array short enough is echoed as itself; a longer one as the start of its JSON text, with an ellipsis.
    """
    if isinstance(value, str):
        return _clipped(redact_text(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 10 ** ECHO_CHARS else _clipped(str(value))
    if isinstance(value, dict | list):
        text = _preview(value)
        if len(text) > ECHO_CHARS:
            return text[:ECHO_CHARS] + "\u2026"
        return json.loads(text)  # short, hence shallow: the value with its strings redacted and clipped
    return value


def shown(value: Any) -> str:
    """A value as the client wrote it, in JSON spelling, short (at most 60 characters)."""
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite(value)
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value[:61])  # never more than is shown
    elif isinstance(value, dict):
        text = "an object"
    elif isinstance(value, list):
        text = "an array"
    elif isinstance(value, int) and abs(value) >= 10 ** 61:
        text = str(value)[:61]
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _records(body: Any, errors: list[dict[str, Any]]) -> tuple[list[Any], bool]:
    """The body's records and whether it was a single object; a body of the wrong shape is an error, no records."""
    if isinstance(body, dict):
        return [body], True
    if isinstance(body, list):
        if not body:
            errors.append({"loc": ["body"], "type": "too_short", "input": [],
                           "msg": "The array should hold at least one record; send {} or [{...}]"})
        return body, False
    errors.append({"loc": ["body"], "type": "dict_type", "input": body,
                   "msg": "Input should be a JSON object (one record) or an array of objects; "
                          f"got {shown(body)}"})
    return [], False


def reject(errors: list[dict[str, Any]]) -> NoReturn:
    """The 422 for ``errors``, with no personal data in any message, field name or echoed input, even back to its
    sender, and at most ``ECHO_CHARS`` characters of any value or field name the client sent."""
    for error in errors:
        error["input"] = _echoed(error["input"])
        error["msg"] = redact_text(error["msg"])
        error["loc"] = [_clipped(redact_text(part)) if isinstance(part, str) else part for part in error["loc"]]
    raise RequestValidationError(errors)


class RecordValidator:
    """Checks request bodies against the training schema, reporting every bad field at once."""

    def __init__(self, features: Sequence[FeatureSpec], *, levels: Any = None) -> None:
        """``levels``: the category levels of the training rows (cairn.monitoring.unseen.TrainingLevels), to name
        a level a request sends that training never had, as `cairn predict` does; None: not checked."""
        self.number_names = [feature.name for feature in features if feature.kind == "number"]
        self.category_names = [feature.name for feature in features if feature.kind == "category"]
        # (category position, name, its training levels): personal columns are left out, their levels never said
        self._levels = levels
        self._memory: dict[tuple[int, str], bool] = {}  # (position, value sent) -> no level training had
        self._level_checks = [] if levels is None else [
            (position, name, levels.keys[name]) for position, name in enumerate(self.category_names)
            if name in levels.keys and name not in levels.personal]
        numbers = [feature for feature in features if feature.kind == "number"]
        # name -> (a number, its position in its row, a number the training data wrote as text: a date, '$45,200')
        self._slots: dict[str, tuple[bool, int, bool]] = {}
        for position, feature in enumerate(numbers):
            self._slots[feature.name] = (True, position, feature.parse in WRITTEN)
        for position, name in enumerate(self.category_names):
            self._slots[name] = (False, position, False)
        self._names = [feature.name for feature in features]
        self._client_ids = ID_KEY not in self._slots  # a model with an input named "id" reads it as an input
        self._names_by_lower = {name.lower(): name for name in self._names}
        # (position in a number row, name, low, high) of each number with a training range: values beyond are clipped
        self._ranges = [(position, feature.name, float(feature.low), float(feature.high))  # type: ignore[arg-type]
                        for position, feature in enumerate(numbers) if has_range(feature)]
        self._written = {position: feature.parse for position, feature in enumerate(numbers)
                         if feature.parse in WRITTEN}
        # category position -> the levels a JSON true and false stand for, where the training data was true/false
        self._truths = {position: truths for position, feature in enumerate(f for f in features if f.kind == "category")
                        if (truths := truth_levels(feature)) is not None}

    def parse(self, body: Any) -> ParsedBody:
        """The body as records and column blocks; raises ``RequestValidationError`` listing each bad field."""
        errors: list[dict[str, Any]] = []
        records, single = _records(body, errors)
        numbers: list[list[float]] = []
        categories: list[list[Any]] = []
        unknown: list[str] = []  # keys the model does not use, once per record they appear in
        with_unknown: list[int] = []  # the records that had such keys
        ids: list[str | int | None] | None = None
        written: list[Written] = []  # numbers sent as text, read after the whole body as training read them
        for index, record in enumerate(records):
            prefix: list[str | int] = ["body"] if single else ["body", index]
            if not isinstance(record, dict):
                errors.append({"loc": prefix, "type": "dict_type", "input": record,
                               "msg": f"Input should be a JSON object of the model's fields; got {shown(record)}"})
                continue
            seen = len(unknown)
            number_row, category_row = self._row(record, prefix, errors, unknown, written)
            numbers.append(number_row)
            categories.append(category_row)
            if len(unknown) > seen:
                with_unknown.append(index)
            if self._client_ids and ID_KEY in record:
                if ids is None:
                    ids = [None] * index
                ids.append(_client_id(record[ID_KEY], prefix, errors))
            elif ids is not None:
                ids.append(None)
        unread = self._read_as_written(written, errors) if written else ()
        if errors:
            reject(errors)
        said = unread + (self._clipped_to_ranges(numbers) if self._ranges else ())
        if self._level_checks:
            said += self._unseen_levels(categories)
        if not unknown:
            return ParsedBody(records=records, single=single, numbers=numbers, categories=categories,
                              warnings=said, ids=ids)
        slots = self._slots
        records = list(records)
        for index in with_unknown:  # the model's inputs only: ignored keys are neither predicted on nor logged
            records[index] = {name: value for name, value in records[index].items() if name in slots}
        return ParsedBody(records=records, single=single, numbers=numbers, categories=categories,
                          warnings=self._ignored(unknown, len(with_unknown), len(records), single=single) + said,
                          ids=ids)

    def _unseen_levels(self, categories: list[list[Any]]) -> tuple[str, ...]:
        """A warning per category input with a level the training rows never had (keyed as the encoder keys it, a
        whole number in either spelling), with what the model reads it as, in `cairn predict`'s words; the level
        masked as the prediction log masks one (it may be personal data typed into the field)."""
        said = []
        for position, name, known in self._level_checks:
            new = [value for row in categories if isinstance(value := row[position], str)  # not missing
                   and self._unknown(position, value, known)]
            if new:  # rare: its imports wait for it
                from cairn.monitoring.drift import NEW_LEVELS_SHOWN
                from cairn.monitoring.unseen import Unseen
                from cairn.privacy import redact_unseen_level

                examples = tuple(dict.fromkeys(redact_unseen_level(value.strip()) for value in new))[:NEW_LEVELS_SHOWN]
                said.append(Unseen(name, len(new), examples, self._levels.readings[name]).sentence())
        return tuple(said)

    def _unknown(self, position: int, value: str, known: frozenset[str]) -> bool:
        """Whether `value` is no level of `known` once cleaned as the encoder cleans it; remembered per value sent
        (requests repeat a few levels: a look-up, not a clean, about 0.05 against 0.9 µs), at most
        ``KNOWN_MEMORY`` values."""
        answer = self._memory.get((position, value))
        if answer is None:
            key = level_key(value, normalize=self._levels.normalize, known=known)
            answer = key is not None and key not in known
            if len(self._memory) >= KNOWN_MEMORY:
                self._memory.clear()
            self._memory[(position, value)] = answer
        return answer

    def _clipped_to_ranges(self, numbers: list[list[float]]) -> tuple[str, ...]:
        """Numbers outside their training range clipped to it, in place (the model answers as trees would: flat
        beyond what it saw), and a warning per field naming the value and the range (cairn.model.ranges).
        The records keep the values as sent: the prediction log shows what clients send."""
        found: dict[str, OutOfRange] = {}
        for row in numbers:
            for position, name, low, high in self._ranges:
                value = row[position]
                if value < low or value > high:
                    row[position] = low if value < low else high
                    seen = found.get(name)
                    if seen is None or abs(value - row[position]) > abs(seen.furthest - row[position]):
                        seen = OutOfRange(name, 0 if seen is None else seen.count, value, low, high)
                    found[name] = OutOfRange(name, seen.count + 1, seen.furthest, low, high)
        return tuple(range_warnings(list(found.values())))

    def _read_as_written(self, written: list[Written], errors: list[dict[str, Any]]) -> tuple[str, ...]:
        """Numbers sent as text for fields the training data wrote as text, read in place as training read them
        (a date once per distinct text, a '$45,200' on its own: a Series per value would cost more than the
        prediction), and a warning per field whose text did not read: the model imputes it, as it did in
        training, so a training row minus its target stays a valid request. A missing-value marker ('N/A') is
        missing without a word, as in training; a number too large for a float ('1e400') is an error, as it is
        when sent as a number."""
        from cairn.estimators.text_values import MISSING_MARKERS, parse_text_number

        unread: dict[int, list[str]] = {}
        dates = [entry for entry in written if self._written[entry.position] == "date"]
        read = parsed_numbers(pd.Series([entry.text for entry in dates], dtype=object), "date") if dates else ()
        dated = dict(zip(dates, read, strict=True))  # keyed by the entry itself (eq=False: by identity)
        for entry in written:
            if entry in dated:
                value = float(dated[entry])
            else:
                number = parse_text_number(entry.text)
                value = math.nan if number is None else float(number)
            if math.isinf(value):
                errors.append({"loc": entry.loc, "type": "finite_number", "input": entry.text,
                               "msg": f"Input should be a finite number; got {shown(entry.text)}. Send null for a "
                                      "missing value"})
                continue
            entry.row[entry.position] = value
            if math.isnan(value) and entry.text.strip().lower() not in MISSING_MARKERS:
                unread.setdefault(entry.position, []).append(entry.text)
        return tuple(Unread(_echoed_name(self.number_names[position]), len(texts), _echoed_name(texts[0]),
                            "a date" if self._written[position] == "date" else "a number").sentence()
                     for position, texts in unread.items())

    def _row(self, record: dict[Any, Any], prefix: list[str | int], errors: list[dict[str, Any]],
             unknown: list[str], written: list[Written]) -> tuple[list[float], list[Any]]:
        """One record's number and category rows (NaN where missing); its bad fields are appended to ``errors``,
        the keys the model does not use to ``unknown``, and text for a number the training data wrote as text
        (a date, '$45,200') to ``written``, read after the whole body (`_read_as_written`)."""
        number_row = [math.nan] * len(self.number_names)
        category_row: list[Any] = [math.nan] * len(self.category_names)
        slots = self._slots
        for name, value in record.items():
            slot = slots.get(name)
            if slot is None:
                if name != ID_KEY or not self._client_ids:
                    unknown.append(name)
                continue
            if value is None:
                continue
            is_number, position, as_text = slot
            if as_text and isinstance(value, str):
                if value.strip():
                    written.append(Written(number_row, position, value, [*prefix, name]))
            elif is_number:
                number = self._number(value)
                if isinstance(number, float):
                    number_row[position] = number
                else:
                    errors.append({"loc": [*prefix, name], **number})
            elif isinstance(value, str):
                category_row[position] = value
            elif isinstance(value, bool) and position in self._truths:
                category_row[position] = self._truths[position][value]  # true for the level "True" (or "true")
            elif (isinstance(value, int) and not isinstance(value, bool)
                  or isinstance(value, float) and value.is_integer()):
                # 20 for the level "20": the client meant the level; 20.0 too (a frame with a gap holds floats),
                # which the encoder reads as the level it learned in either spelling
                category_row[position] = str(value)
            else:
                errors.append({"loc": [*prefix, name], "type": "string_type", "input": value,
                               "msg": f"Input should be a string (a category) or null; got {shown(value)}"})
        return number_row, category_row

    @staticmethod
    def _number(value: Any) -> float | dict[str, Any]:
        """The value as a finite float, or the error (without its loc)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return {"type": "float_type", "input": value,
                    "msg": f"Input should be a number or null; got {shown(value)}"}
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return {"type": "float_parsing", "input": value,
                    "msg": f"Input should be a number or null; got {shown(value)}, which is not a number"}
        if not math.isfinite(number):
            return {"type": "finite_number", "input": value,
                    "msg": f"Input should be a finite number; got {shown(value)}. Send null for a missing value"}
        return number

    def _ignored(self, unknown: list[str], records_with: int, records: int, *, single: bool) -> tuple[str, ...]:
        """The warnings for keys the model does not use: one naming them (a few, then a count), and one per close
        match of a model input (for the first few names only, so a body of many odd keys costs little)."""
        names = list(dict.fromkeys(unknown))
        listed = ", ".join(_echoed_name(name) for name in names[:IGNORED_SHOWN])
        if len(names) > IGNORED_SHOWN:
            listed += f" and {len(names) - IGNORED_SHOWN} more"
        fields = "field" if len(names) == 1 else "fields"
        where = "" if single else f" (in {records_with} of {records} records)"
        warnings = [f"ignored {len(names)} {fields} the model does not use: {listed}{where}"]
        for name in names[:IGNORED_SHOWN]:
            suggestion = self.suggestion(name, cutoff=TYPO_CUTOFF)
            if suggestion is not None:
                warnings.append(f"ignored {_echoed_name(name)!r}: did you mean {suggestion!r}?")
        return tuple(warnings)

    def suggestion(self, name: str, *, cutoff: float = 0.6) -> str | None:
        """The known field a misspelt name most likely meant, if any."""
        same_letters = self._names_by_lower.get(name.lower())
        if same_letters is not None:
            return same_letters
        close = difflib.get_close_matches(name, self._names, n=1, cutoff=cutoff)
        return close[0] if close else None


ID_KEY = "id"
"""A record's key for the client's own prediction id (unless the model has an input of that name)."""

MAX_ID_CHARS = 128


def _client_id(value: Any, prefix: list[str | int], errors: list[dict[str, Any]]) -> str | int | None:
    """The client's prediction id: a non-empty string or an integer, at most ``MAX_ID_CHARS`` characters; else an
    error is appended and None returned. Null is no id: one is made, as when the key is left out."""
    if value is None or isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) <= MAX_ID_CHARS:
        return value
    errors.append({"loc": [*prefix, ID_KEY], "type": "prediction_id", "input": value,
                   "msg": f"The prediction id should be a non-empty string or an integer of at most {MAX_ID_CHARS} "
                          f"characters; got {shown(value)}. Leave it out to have one made for you"})
    return None


IGNORED_SHOWN = 5
"""Keys the model does not use named in a warning (the rest are counted), and checked for a close model input."""

TYPO_CUTOFF = 0.8
"""How close (difflib's ratio) an ignored key must be to a model input to get a "did you mean": typos score
about 0.9 ("Gr_Liv_Aera"), while other training columns, which share words with the inputs, mostly score lower."""


def _echoed_name(name: str) -> str:
    """A key as a warning names it: personal data redacted, at most ``ECHO_CHARS`` characters."""
    return _clipped(redact_text(name))

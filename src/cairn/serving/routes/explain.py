"""``POST /explain``: the same body as ``/predict``, each input's contribution to the answer out.

The body is read and checked exactly as ``/predict`` reads it (``RecordValidator``): a missing field is imputed, a
key the model does not use is ignored and named in ``warnings``, a value of the wrong kind is a 422 naming it. The
pipeline's input is built by the same function as ``/predict``'s, so what is explained is what would be predicted.
An explanation costs more than a prediction, so a request holds at most ``MAX_RECORDS`` records; more is a 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cairn.errors import CairnError
from cairn.serving.payloads import json_bytes, json_response
from cairn.serving.routes.predict import parsed_request
from cairn.serving.schemas import WARNINGS_DESCRIPTION, RequestErrors, TooLarge, reject
from cairn.serving.state import ServingStateDep

__all__ = ["MAX_RECORDS", "ExplainedRecord", "router"]

MAX_RECORDS = 100
"""Records explained per request: enough for a screen of rows; a whole file goes through `Model.explain`."""
INLINE_RECORDS = 8  # up to this many are explained on the event loop (one record: the latency that matters)


class ExplainedRecord(BaseModel):
    """Why one record got its answer: base_value + sum(contributions) == prediction, on `scale`."""

    base_value: float
    contributions: dict[str, float] = Field(description="Each model input's contribution, in the model's order.")
    prediction: float = Field(description="base_value plus the contributions, on `scale`.")
    scale: str = Field(description="What the numbers add up to: the target (in its units), log1p(target) for a "
                                   "model fitted on the log scale, the log-odds or the probability of a class.")
    value: float = Field(description="The answer in the target's units, or the probability of `output`.")
    output: str | None = Field(default=None, description="Classification: the class explained (multiclass: the "
                                                         "predicted one; every class in `by_class`).")
    answer: Any = Field(default=None, description="What /predict answers for this record: the class label "
                                                  "(a binary model explains its positive class's probability, "
                                                  "whichever class it answers), or the value for regression.")
    inputs: dict[str, Any] = Field(description="Each input as the model read it; null where it was missing.")
    note: str = Field(description="Where a rescaling, a split or an estimate was made; empty otherwise.")
    by_class: dict[str, dict[str, Any]] | None = None


class Explained(BaseModel):
    explanation: ExplainedRecord
    model: str
    version: int
    warnings: list[str] | None = Field(default=None, description=WARNINGS_DESCRIPTION)


class ExplainedMany(BaseModel):
    explanations: list[ExplainedRecord]
    model: str
    version: int
    warnings: list[str] | None = Field(default=None, description=WARNINGS_DESCRIPTION)


_RECORD = {"$ref": "#/components/schemas/Record"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Explained | ExplainedMany, "description": "One explanation for an object, a list for an array"},
    413: {"model": TooLarge, "description": "The body is larger than the server's limit (1 MiB unless set), "
                                                 "or holds more records than it takes per request (10,000)"},
    422: {"model": RequestErrors, "description": "Each bad field, as for /predict; more than 100 records; or a "
                                                 "model that cannot be explained"},
}
_REQUEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [_RECORD, {"type": "array", "items": _RECORD, "minItems": 1, "maxItems": MAX_RECORDS}]}}}}}

router = APIRouter()


@router.post("/explain", summary="Explain the prediction of one record or an array of records",
             response_class=JSONResponse, responses=_RESPONSES, openapi_extra=_REQUEST_BODY)
async def explain(request: Request, state: ServingStateDep) -> Response:
    parsed = await parsed_request(request, state)
    if len(parsed.records) > MAX_RECORDS:
        reject([{"loc": ["body"], "type": "too_long", "input": None,
                 "msg": f"At most {MAX_RECORDS} records are explained per request; got {len(parsed.records)}. "
                        "Send fewer, or use Model.explain in Python for a whole file"}])
    from cairn.explain import explain_inputs

    model = state.predictor.model
    inputs = state.predictor.pipeline_input(parsed)  # exactly what /predict would predict on
    try:
        if len(parsed.records) <= INLINE_RECORDS:
            explained = explain_inputs(model, inputs)
        else:
            explained = await run_in_threadpool(explain_inputs, model, inputs)
    except (CairnError, TypeError) as error:  # a model cairn did not build, or the shap extra is missing
        reject([{"loc": ["body"], "type": "not_explainable", "input": None,
                 "msg": f"This model cannot be explained: {error}"}])
    answers = explained.to_records()
    content: dict[str, Any] = ({"explanation": answers[0]} if parsed.single else {"explanations": answers})
    content["model"], content["version"] = model.name, model.version
    if parsed.warnings:
        content["warnings"] = list(parsed.warnings)
    try:
        return json_response(json_bytes(content))
    except ValueError:  # an answer that overflowed (NaN or infinite): never a 500, never an invalid body
        reject([{"loc": ["body"], "type": "non_finite_answer", "input": None,
                 "msg": "The explanation is not a finite number (NaN or infinite), which JSON cannot carry: check "
                        "the values sent against the training data"}])

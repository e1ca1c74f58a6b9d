"""``POST /predict``: one record or an array of records in, predictions (and class probabilities) out.

The body is read by hand (``read_json``, then ``RecordValidator`` in one pass) rather than declared as a parameter,
so the request body and the ``Record`` schema are described to OpenAPI through ``openapi_extra``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from cairn.serving.payloads import json_response, read_records
from cairn.serving.schemas import ParsedBody, RequestErrors, TooLarge
from cairn.serving.state import ServingState, ServingStateDep

__all__ = ["INLINE_ROWS", "parsed_request", "router"]

INLINE_ROWS = 64
"""Batches up to this size are predicted on the event loop: a small pipeline call costs less than the hop to a
worker thread. Larger batches go to the thread pool so ``/health`` and ``/ready`` keep answering meanwhile."""


async def parsed_request(request: Request, state: ServingState) -> ParsedBody:
    """The body of /predict or /explain read and checked: on the event loop up to INLINE_ROWS records, in the
    thread pool beyond, where reading 10,000 dates written as text (up to a second) leaves the probes answering."""
    body = await read_records(request, max_body_bytes=state.max_body_bytes, max_batch=state.max_batch)
    if isinstance(body, list) and len(body) > INLINE_ROWS:
        return await run_in_threadpool(state.validator.parse, body)
    return state.validator.parse(body)


_RECORD = {"$ref": "#/components/schemas/Record"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "One prediction for an object, a list for an array",
          "content": {"application/json": {"schema": {"anyOf": [
              {"$ref": "#/components/schemas/Prediction"},
              {"$ref": "#/components/schemas/Predictions"}]}}}},
    413: {"model": TooLarge, "description": "The body is larger than the server's limit (1 MiB unless set), "
                                                 "or holds more records than it takes per request (10,000)"},
    422: {"model": RequestErrors, "description": "Each bad field: where, what was wrong; or a value so far outside "
                                                 "the training data that the model's answer is not a number"},
}
_REQUEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [_RECORD, {"type": "array", "items": _RECORD, "minItems": 1}]}}}}}

router = APIRouter()


@router.post("/predict", summary="Predict one record or an array of records", response_class=JSONResponse,
             responses=_RESPONSES, openapi_extra=_REQUEST_BODY)
async def predict(request: Request, state: ServingStateDep) -> Response:
    parsed = await parsed_request(request, state)
    if len(parsed.records) <= INLINE_ROWS:
        content, predictions, ids = state.predictor.answer(parsed)
    else:
        content, predictions, ids = await run_in_threadpool(state.predictor.answer, parsed)
    if state.metrics is not None:
        state.metrics.predictions.inc(len(predictions))
    if state.on_predictions is not None:  # queued for the log's writer thread: never waits (cairn.serving.log_queue)
        state.on_predictions(parsed.records, predictions, ids)
    return json_response(content)

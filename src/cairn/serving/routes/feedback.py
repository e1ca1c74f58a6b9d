"""``POST /feedback``: the true values of served predictions, ``{"id", "actual"}`` or an array of them.

Each actual is checked against the model first (a number for regression, a known class for classification):
every bad item is a 422 naming it, and nothing is stored. The items are then handed to ``on_feedback``, which
matches them to the logged predictions and stores them; an unknown id is counted, never an error. A service
started without a store (an exported model) answers 404 with what to do instead: a client's mistake to send it
there, not the service failing (a 5xx would say cairn is wrong).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from cairn.monitoring.feedback import actual_problem
from cairn.serving.payloads import json_bytes, json_response, read_body, read_json
from cairn.serving.schemas import MAX_ID_CHARS, FeedbackAnswer, RequestErrors, reject, shown
from cairn.serving.state import ServingStateDep

__all__ = ["router"]

_ITEM = {"$ref": "#/components/schemas/Feedback"}
_REQUEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [_ITEM, {"type": "array", "items": _ITEM, "minItems": 1}]}}}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": FeedbackAnswer, "description": "How many items were stored, and the ids no prediction matched"},
    422: {"model": RequestErrors, "description": "Each bad item: an id missing or too long, an actual of the wrong "
                                                 "type or a class the model never saw; nothing was stored"},
    404: {"description": "This service keeps no history (an exported model served without its project): send "
                         "ground truth with `cairn feedback FILE` in the project instead"},
}
NO_STORE = ("This service keeps no feedback: it serves a model without its project's store (cairn serve --model). "
            "Serve the project (cairn serve -p cairn.yaml), or send the true values with `cairn feedback FILE` in "
            "the project")

router = APIRouter()


def checked_items(body: Any, state: Any) -> list[dict[str, Any]]:
    """The items of a feedback body, each with an id and an actual that fits the model; else a 422 per bad item."""
    model = state.predictor.model
    single = isinstance(body, dict)
    items = [body] if single else body
    errors: list[dict[str, Any]] = []
    if not isinstance(items, list) or not items:
        reject([{"loc": ["body"], "type": "list_type", "input": body,
                 "msg": 'Send {"id": ..., "actual": ...} or a non-empty array of such objects'}])
    for position, item in enumerate(items):
        prefix: list[str | int] = ["body"] if single else ["body", position]
        if not isinstance(item, dict):
            errors.append({"loc": prefix, "type": "dict_type", "input": item,
                           "msg": f'Each item should be an object {{"id": ..., "actual": ...}}; got {shown(item)}'})
            continue
        extra = sorted(set(item) - {"id", "actual"})
        if extra:
            errors.append({"loc": [*prefix, extra[0]], "type": "extra_forbidden", "input": item[extra[0]],
                           "msg": "An item holds only id and actual"})
        identifier = item.get("id")
        if (isinstance(identifier, bool) or not isinstance(identifier, str | int) or identifier == ""
                or len(str(identifier)) > MAX_ID_CHARS):
            errors.append({"loc": [*prefix, "id"], "type": "prediction_id", "input": identifier,
                           "msg": "The id should be the prediction_id /predict answered with (a string or an "
                                  f"integer of at most {MAX_ID_CHARS} characters); got {shown(identifier)}"})
        if "actual" not in item:
            errors.append({"loc": [*prefix, "actual"], "type": "missing", "input": None,
                           "msg": f"The true value of {model.target} is missing"})
        else:
            problem = actual_problem(item["actual"], model)
            if problem is not None:
                errors.append({"loc": [*prefix, "actual"], "type": "actual_type", "input": item["actual"],
                               "msg": problem})
    if errors:
        reject(errors)
    return items


@router.post("/feedback", summary="Send the true values of served predictions", response_class=JSONResponse,
             responses=_RESPONSES, openapi_extra=_REQUEST_BODY)
async def feedback(request: Request, state: ServingStateDep) -> Response:
    if state.on_feedback is None:
        raise HTTPException(status_code=404, detail=NO_STORE)
    items = checked_items(read_json(await read_body(request, state.max_body_bytes)), state)
    answer = await run_in_threadpool(state.on_feedback, items)
    return json_response(json_bytes(answer))

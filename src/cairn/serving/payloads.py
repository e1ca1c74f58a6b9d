"""JSON in and out of the API by hand: one ``json.loads`` per request and one ``json.dumps`` per response.

Pydantic describes the same shapes for the OpenAPI schema only; running it per request would cost more than a small
pipeline call.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.background import BackgroundTask

__all__ = ["json_bytes", "json_response", "plain", "read_json"]


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused, as JSON cannot carry them."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def json_response(content: bytes, *, status_code: int = 200, background: BackgroundTask | None = None) -> Response:
    """A response of bytes already serialised, so FastAPI does not encode them again."""
    return Response(content, status_code=status_code, media_type="application/json", background=background)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value ``json`` can write."""
    return value.item() if isinstance(value, np.generic) else value


def read_json(body: bytes) -> Any:
    """The parsed body; malformed JSON is a 422 shaped like FastAPI's own ``json_invalid`` error."""
    try:
        return json.loads(body)
    except ValueError as error:
        position = getattr(error, "pos", 0)
        raise RequestValidationError([{
            "loc": ["body", position], "type": "json_invalid", "input": {},
            "msg": f"JSON decode error: {getattr(error, 'msg', error)}",
            "ctx": {"error": str(getattr(error, "msg", error))}}]) from None

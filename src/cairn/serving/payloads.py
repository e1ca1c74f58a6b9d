"""JSON in and out of the API by hand: one ``json.loads`` per request and one ``json.dumps`` per response.

Pydantic describes the same shapes for the OpenAPI schema only; running it per request would cost more than a small
pipeline call.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.background import BackgroundTask

__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "json_bytes", "json_response", "plain", "read_body", "read_json",
           "read_records"]

MAX_BODY_BYTES = 1024 * 1024
"""The default limit on a request body: 1 MiB holds thousands of records; a bigger body is a 413."""

MAX_BATCH = 10_000
"""The default limit on the records of one request (`deployment.max_batch`); more is a 413."""


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
    except RecursionError:  # Python's json nests as deep as its stack; a 100,000-deep array is not a record
        raise RequestValidationError([{
            "loc": ["body"], "type": "json_invalid", "input": {},
            "msg": "JSON decode error: arrays or objects nested too deeply; a record is one flat object",
            "ctx": {"error": "nested too deeply"}}]) from None


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status_code=413, detail=(
        f"The request body is larger than this server accepts ({limit:,} bytes): send fewer records per "
        "request, or shorter values"))


async def read_records(request: Request, *, max_body_bytes: int, max_batch: int) -> Any:
    """The parsed body of a /predict or /explain request, within both limits: the body's bytes (413 before they
    are read) and the records in an array (413 naming the count, before any is checked)."""
    body = read_json(await read_body(request, max_body_bytes))
    if isinstance(body, list) and len(body) > max_batch:
        raise HTTPException(status_code=413, detail=(
            f"The request holds {len(body):,} records; this server accepts at most {max_batch:,} per request "
            "(deployment.max_batch): send them in several requests, or score a file with `cairn predict`"))
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 beyond ``limit`` bytes: at once when Content-Length says so, else as
    soon as the bytes read pass it (a chunked body has no length), so a huge body is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise _too_large(limit)
        return await request.body()  # the server reads no more than Content-Length says
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)

"""The optional API key: ``create_app`` adds ``require_api_key`` to the guarded routers only when a key is set."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

from cairn.serving.schemas import Unauthorized
from cairn.serving.state import ServingStateDep

__all__ = ["API_KEY_HEADER", "UNAUTHORIZED", "require_api_key"]

API_KEY_HEADER = "X-API-Key"

api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="The key the server was started with (deployment.api_key_env).")

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Unauthorized, "description": "Missing or invalid API key"}}
"""The 401 as the OpenAPI schema documents it on guarded routes."""


async def require_api_key(state: ServingStateDep, given: str | None = Security(api_key_scheme)) -> None:
    """A 401 unless the header holds the key; compared in constant time so timing does not leak it."""
    expected = state.api_key
    if expected is None:
        return
    if given is None or not secrets.compare_digest(given.encode("utf-8"), expected):
        detail = (f"Missing API key: send it in the {API_KEY_HEADER} header" if given is None
                  else f"Invalid API key in the {API_KEY_HEADER} header")
        raise HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "APIKey"})

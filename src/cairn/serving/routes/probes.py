"""``GET /health`` and ``GET /ready``: the orchestrator's probes, never behind the API key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from cairn.serving.payloads import json_bytes, json_response
from cairn.serving.schemas import Health, Readiness
from cairn.serving.state import ServingStateDep

__all__ = ["router"]

_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Readiness, "description": "Starting, or the model failed to predict"}}

router = APIRouter()


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health(state: ServingStateDep) -> Response:
    return json_response(state.health_body)


@router.get("/ready", response_model=Readiness, summary="Readiness: the model is loaded and predicts",
            responses=_NOT_READY)
async def ready(state: ServingStateDep) -> Response:
    status_code = 200 if state.status == "ready" else 503
    return json_response(json_bytes(state.readiness()), status_code=status_code)

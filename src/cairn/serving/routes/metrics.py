"""``GET /metrics``: the service's counters in Prometheus' text format, behind the API key when one is set."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cairn.serving.metrics import CONTENT_TYPE
from cairn.serving.state import ServingStateDep

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics: requests, latency, predictions, errors, the model",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}},
                                                       "description": "Prometheus text format"}})
async def metrics(state: ServingStateDep) -> Response:
    exposition = b"" if state.metrics is None else state.metrics.exposition()
    return Response(exposition, media_type=CONTENT_TYPE)

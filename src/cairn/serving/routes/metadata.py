"""``GET /metadata``: the model and its inputs, for clients and ``/docs`` readers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cairn.serving.payloads import json_response
from cairn.serving.schemas import Metadata
from cairn.serving.state import ServingStateDep

__all__ = ["router"]

router = APIRouter()


@router.get("/metadata", response_model=Metadata, summary="The model and its inputs")
async def metadata(state: ServingStateDep) -> Response:
    return json_response(state.metadata_body)

"""``GET /openapi.json``, ``/docs`` and ``/redoc`` behind the API key: they list every field with examples.

``create_app`` keeps FastAPI's own documentation routes when no key is set, and includes this router, guarded,
in their place when one is. A browser cannot send the ``X-API-Key`` header by itself: fetch the schema with it
(``curl -H "X-API-Key: ..." /openapi.json``) or use a client that adds it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

__all__ = ["OPENAPI_URL", "router"]

OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)


def _schema_url(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + OPENAPI_URL


@router.get(OPENAPI_URL)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=_schema_url(request), title=f"{request.app.title} - Swagger UI")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=_schema_url(request), title=f"{request.app.title} - ReDoc")

"""Serving a trained model over HTTP: ``create_app`` builds the FastAPI app, ``serve`` runs it with uvicorn."""

from cairn.serving.app import OnPredictions, create_app, openapi_document, serve
from cairn.serving.payloads import MAX_BATCH, MAX_BODY_BYTES
from cairn.serving.schemas import RecordValidator, record_model
from cairn.serving.startup import refuse_unsafe_start

__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "OnPredictions", "RecordValidator", "create_app", "openapi_document",
           "record_model", "refuse_unsafe_start", "serve"]

"""Serving a trained model over HTTP: ``create_app`` builds the FastAPI app, ``serve`` runs it with uvicorn."""

from cairn.serving.app import OnPredictions, create_app, serve
from cairn.serving.schemas import RecordValidator, record_model

__all__ = ["OnPredictions", "RecordValidator", "create_app", "record_model", "serve"]

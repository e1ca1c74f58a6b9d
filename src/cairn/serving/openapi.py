"""The OpenAPI schema FastAPI generates, plus the models ``/predict`` reads and writes by hand.

``/predict`` declares no body parameter or response model (it parses and serialises itself), so FastAPI would not
list ``Record``, ``Prediction`` and ``Predictions`` among the components its ``$ref``s point to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from cairn.serving.schemas import Feedback, Prediction, Predictions

__all__ = ["REF_TEMPLATE", "add_record_schema"]

REF_TEMPLATE = "#/components/schemas/{model}"


def add_record_schema(app: FastAPI, record_schema: dict[str, Any]) -> None:
    """Makes ``app.openapi()`` add ``record_schema`` as ``Record``, and the answers' models, to the components."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = default_openapi()  # which also caches it as app.openapi_schema
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Record"] = record_schema
            for extra in (Prediction, Predictions, Feedback):
                components.setdefault(extra.__name__, extra.model_json_schema(ref_template=REF_TEMPLATE))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

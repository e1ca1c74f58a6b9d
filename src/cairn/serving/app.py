"""The REST API of one trained model: ``create_app`` assembles the FastAPI app, ``serve`` runs it with uvicorn.

The routes live in ``cairn.serving.routes`` (one router per concern) and share one ``ServingState`` through
``Depends``. The prediction path is kept short on purpose: the body is parsed with ``json.loads`` and checked by hand
(``RecordValidator``) in one pass that also fills the pipeline's input columns; the response is serialised once
with ``json.dumps``. Pydantic models describe the same shapes for the OpenAPI schema but do not run per request,
and the monitoring hook runs after the response has been sent.
"""

from __future__ import annotations

import uvicorn
from fastapi import Depends, FastAPI

from cairn.model.trained import TrainedModel
from cairn.serving.hook import OnPredictions
from cairn.serving.inputs import choose_input as _choose_input  # noqa: F401  (its name when it lived here)
from cairn.serving.inputs import input_builders as _input_builders  # noqa: F401  (idem)
from cairn.serving.openapi import REF_TEMPLATE, add_record_schema
from cairn.serving.routes import metadata, predict, probes
from cairn.serving.schemas import RecordValidator, record_model
from cairn.serving.security import UNAUTHORIZED, require_api_key
from cairn.serving.state import build_state, lifespan

__all__ = ["OnPredictions", "create_app", "serve"]


def create_app(model: TrainedModel, *, api_key: str | None = None,
               on_predictions: OnPredictions | None = None) -> FastAPI:
    """The REST API of ``model``: ``POST /predict``, ``GET /health``, ``GET /ready``, ``GET /metadata``.

    ``api_key``, when given, is required in the ``X-API-Key`` header by ``/predict`` and ``/metadata``; the probes
    stay open for the orchestrator. ``on_predictions(records, predictions)`` is called after each successful
    ``/predict`` response has been sent, with the records as received and the predictions as served.
    """
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ValueError(f"The api_key parameter of create_app must be a non-empty str or None. "
                         f"Got {api_key!r} instead.")
    validator = RecordValidator(model.features)
    record_schema = record_model(model.features).model_json_schema(ref_template=REF_TEMPLATE)
    state = build_state(model, validator, api_key=api_key, on_predictions=on_predictions)
    app = FastAPI(
        title=f"cairn · {model.name}",
        version=str(model.version),
        description=(f"Predicts {model.target} ({model.problem}) with model {model.name} "
                     f"version {model.version}. Every input field is optional: missing values are imputed."),
        lifespan=lifespan,
    )
    app.state.serving = state
    guard, unauthorized = ([Depends(require_api_key)], UNAUTHORIZED) if api_key is not None else ([], {})
    app.include_router(predict.router, dependencies=guard, responses=unauthorized)
    app.include_router(probes.router)
    app.include_router(metadata.router, dependencies=guard, responses=unauthorized)
    add_record_schema(app, record_schema)
    return app


def serve(model: TrainedModel, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          on_predictions: OnPredictions | None = None) -> None:
    """Serves ``model`` until interrupted: one uvicorn worker, warnings only, no access log (it costs per request).

    One worker because the pipeline is CPU-bound and holds the GIL; scale with processes behind a balancer.
    """
    app = create_app(model, api_key=api_key, on_predictions=on_predictions)
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False)

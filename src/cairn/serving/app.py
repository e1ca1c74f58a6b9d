"""The REST API of one trained model: ``create_app`` assembles the FastAPI app, ``serve`` runs it with uvicorn.

The routes live in ``cairn.serving.routes`` (one router per concern) and share one ``ServingState`` through
``Depends``. The prediction path is kept short on purpose: the body is parsed with ``json.loads`` and checked by hand
(``RecordValidator``) in one pass that also fills the pipeline's input columns; the response is serialised once
with ``json.dumps``. Pydantic models describe the same shapes for the OpenAPI schema but do not run per request,
and the monitoring hook runs after the response has been sent.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import Depends, FastAPI

from cairn.model.trained import TrainedModel
from cairn.serving.hook import OnFeedback, OnPredictions
from cairn.serving.inputs import choose_input as _choose_input  # noqa: F401  (its name when it lived here)
from cairn.serving.inputs import input_builders as _input_builders  # noqa: F401  (idem)
from cairn.serving.log_queue import QueuedHook
from cairn.serving.metrics import MetricsMiddleware, ServiceMetrics, shared_metrics_folder
from cairn.serving.openapi import REF_TEMPLATE, add_record_schema
from cairn.serving.payloads import MAX_BATCH, MAX_BODY_BYTES
from cairn.serving.reload import ChampionFollower, following
from cairn.serving.routes import docs, explain, feedback, metadata, metrics, predict, probes
from cairn.serving.schemas import RecordValidator, record_model
from cairn.serving.security import UNAUTHORIZED, require_api_key
from cairn.serving.startup import check_salt, refuse_unsafe_start, warn_if_exposed
from cairn.serving.state import build_state, lifespan

__all__ = ["OnPredictions", "create_app", "openapi_document", "serve"]

GRACEFUL_SHUTDOWN_S = 30  # how long `serve` lets the requests in flight finish after SIGTERM or Ctrl-C


def create_app(model: TrainedModel, *, api_key: str | None = None,
               on_predictions: OnPredictions | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               metrics: bool = True, on_feedback: OnFeedback | None = None, max_batch: int = MAX_BATCH) -> FastAPI:
    """The REST API of ``model``: ``POST /predict``, ``GET /health``, ``GET /ready``, ``GET /metadata``,
    ``GET /metrics`` (Prometheus; ``metrics=False`` leaves requests uncounted and the page empty).

    ``api_key``, when given, is required in the ``X-API-Key`` header by ``/predict``, ``/metadata``, ``/metrics``
    and the documentation (``/docs``, ``/redoc``, ``/openapi.json``); the probes stay open for the orchestrator.
    ``on_predictions(records, predictions)`` is called after each successful ``/predict`` response has been sent,
    with the records as received and the predictions as served (and their prediction ids, to a hook that takes a
    third argument). ``on_feedback(items)`` stores the ground truth ``POST /feedback`` receives (items checked
    against the model first) and says what became of it; without it ``/feedback`` is a 404 saying this service
    keeps no history. A request body over ``max_body_bytes``, or an array of more than ``max_batch`` records, is a
    413.
    Raises ``ConfigError`` when ``model`` hashes personal columns and the salt it was trained with is not set.
    """
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ValueError(f"The api_key parameter of create_app must be a non-empty str or None. "
                         f"Got {api_key!r} instead.")
    for name, limit in (("max_body_bytes", max_body_bytes), ("max_batch", max_batch)):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"The {name} parameter of create_app must be a positive int. Got {limit!r} instead.")
    check_salt(model)
    validator = RecordValidator(model.features, levels=model.known_levels)
    state = build_state(model, validator, api_key=api_key, on_predictions=on_predictions,
                        max_body_bytes=max_body_bytes, on_feedback=on_feedback, max_batch=max_batch)
    app = _routes(model, guarded=api_key is not None)
    app.state.serving = state
    if metrics:
        state.metrics = ServiceMetrics(model)
        if isinstance(state.on_predictions, QueuedHook):
            state.on_predictions.on_drop = state.metrics.log_dropped.inc
        state.metrics.watch_log_queue(lambda: _log_queue_depth(app))
        app.add_middleware(MetricsMiddleware, metrics=state.metrics, routes=frozenset(_paths(app.routes)))
    return app


def _log_queue_depth(app: FastAPI) -> float:
    """The prediction log's queue depth of the state serving now (a new champion brings its own queue)."""
    hook = app.state.serving.on_predictions
    return float(hook.depth) if isinstance(hook, QueuedHook) else 0.0


def _paths(routes: list[Any]) -> set[str]:
    """Every path the app serves (FastAPI may keep an included router whole rather than copying its routes)."""
    paths: set[str] = set()
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            paths.add(route.path)
        inner = getattr(getattr(route, "original_router", route), "routes", None)
        if isinstance(inner, list) and inner is not routes:
            paths |= _paths(inner)
    return paths


def openapi_document(model: TrainedModel) -> dict[str, Any]:
    """The OpenAPI schema ``create_app(model)`` serves, without starting anything (no salt, no warm-up): what
    ``cairn export`` writes beside the model."""
    return _routes(model, guarded=False).openapi()


def _routes(model: TrainedModel, *, guarded: bool) -> FastAPI:
    """The app's routes and documentation, without the state they serve from."""
    record_schema = record_model(model.features).model_json_schema(ref_template=REF_TEMPLATE)
    app = FastAPI(
        title=f"cairn · {model.name}",
        version=str(model.version),
        description=(f"Predicts {model.target} ({model.problem}) with model {model.name} "
                     f"version {model.version}. Every input field is optional: missing values are imputed."),
        lifespan=lifespan,
        # with a key, the documentation is served by the guarded docs router instead (it lists every field)
        openapi_url=None if guarded else docs.OPENAPI_URL,
        docs_url=None if guarded else "/docs",
        redoc_url=None if guarded else "/redoc",
    )
    guard, unauthorized = ([Depends(require_api_key)], UNAUTHORIZED) if guarded else ([], {})
    app.include_router(predict.router, dependencies=guard, responses=unauthorized)
    app.include_router(explain.router, dependencies=guard, responses=unauthorized)
    app.include_router(feedback.router, dependencies=guard, responses=unauthorized)
    app.include_router(probes.router)
    app.include_router(metadata.router, dependencies=guard, responses=unauthorized)
    app.include_router(metrics.router, dependencies=guard, responses=unauthorized)
    if guarded:
        app.include_router(docs.router, dependencies=guard)
    add_record_schema(app, record_schema)
    return app


def serve(model: TrainedModel, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          on_predictions: OnPredictions | None = None, max_body_bytes: int = MAX_BODY_BYTES,
          insecure: bool = False, on_feedback: OnFeedback | None = None,
          follower: ChampionFollower | None = None, workers: int = 1, worker_factory: str | None = None,
          graceful_shutdown_s: int = GRACEFUL_SHUTDOWN_S, max_batch: int = MAX_BATCH) -> None:
    """Serves ``model`` until interrupted: warnings only, no access log (it costs per request).

    One worker process by default: the pipeline is CPU-bound and holds the GIL, so ``workers`` > 1 runs that many
    processes on one port. Each builds its own app: ``worker_factory`` is the import string ("module:function")
    of a function that returns the app, called in every worker (uvicorn cannot hand an app object to a process
    it spawns); the hooks and follower given here are then the factory's to build. On SIGTERM or Ctrl-C the
    server stops accepting connections and lets the requests in flight finish, for ``graceful_shutdown_s`` at
    most.
    Refuses to start (``ConfigError``) on a host other than loopback without an ``api_key`` unless ``insecure``
    (then it warns loudly), and on a model whose personal columns cannot be hashed for want of the salt.
    """
    refuse_unsafe_start(model, host=host, api_key=api_key, insecure=insecure)
    warn_if_exposed(host, api_key=api_key)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"The workers parameter of serve must be a positive int. Got {workers!r} instead.")
    if workers > 1:
        if worker_factory is None:
            raise ValueError("The worker_factory parameter of serve must name the app factory (\"module:function\") "
                             "when workers > 1. Got None instead.")
        check_salt(model)  # here, once: a worker that cannot start would be restarted by uvicorn again and again
        with shared_metrics_folder():  # GET /metrics counts every worker's requests, whichever one answers
            uvicorn.run(worker_factory, factory=True, host=host, port=port, workers=workers, log_level="warning",
                        access_log=False, timeout_graceful_shutdown=graceful_shutdown_s)
        return
    app = create_app(model, api_key=api_key, on_predictions=on_predictions, max_body_bytes=max_body_bytes,
                     on_feedback=on_feedback, max_batch=max_batch)
    following(app, follower)  # `follower`: switch to each new champion while serving
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False,
                timeout_graceful_shutdown=graceful_shutdown_s)

"""The REST API of one trained model: a FastAPI factory and a ``serve`` that runs it with uvicorn.

The prediction path is kept short on purpose. The body is parsed with ``json.loads`` and checked by hand
(``RecordValidator``) in one pass that also fills the pipeline's input columns; the response is serialised once
with ``json.dumps``. Pydantic models describe the same shapes for the OpenAPI schema but do not run per request,
and the monitoring hook runs after the response has been sent.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from cairn.model.trained import TrainedModel
from cairn.serving.schemas import (
    Health,
    Metadata,
    ParsedBody,
    Prediction,
    Predictions,
    Readiness,
    RecordValidator,
    RequestErrors,
    Unauthorized,
    record_model,
)

__all__ = ["OnPredictions", "create_app", "serve"]

logger = logging.getLogger(__name__)

OnPredictions = Callable[[list[dict[str, Any]], list[Any]], None]

API_KEY_HEADER = "X-API-Key"
INLINE_ROWS = 64
"""Batches up to this size are predicted on the event loop: a small pipeline call costs less than the hop to a
worker thread. Larger batches go to the thread pool so ``/health`` and ``/ready`` keep answering meanwhile."""


def _json(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _metadata(model: TrainedModel) -> dict[str, Any]:
    classes = None if model.classes is None else [_plain(label) for label in model.classes]
    return {
        "name": model.name,
        "version": model.version,
        "problem": model.problem,
        "target": model.target,
        "features": [{"name": feature.name, "kind": feature.kind, "levels": [str(level) for level in feature.levels]}
                     for feature in model.features],
        "classes": classes,
        "run_id": model.run_id,
        "metrics": {name: float(value) for name, value in model.metrics.items()},
    }


def _class_labels(model: TrainedModel) -> list[str]:
    """Probability keys, in the column order of ``predict_proba`` (the pipeline's own ``classes_``)."""
    labels = getattr(model.pipeline, "classes_", None)
    if labels is None:
        labels = model.classes
    if labels is None:
        raise ValueError(f"model {model.name!r} is a {model.problem} model but neither its pipeline nor "
                         "TrainedModel.classes names the classes")
    return [str(_plain(label)) for label in labels]


def _warm_up_record(model: TrainedModel) -> dict[str, Any]:
    """A record of the features' examples, so the first real request does not pay for lazy initialisation."""
    record: dict[str, Any] = {}
    for feature in model.features:
        example = _plain(feature.example)
        if example is None or (isinstance(example, float) and not math.isfinite(example)):
            continue
        record[feature.name] = example if feature.kind == "number" else str(example)
    return record


InputBuilder = Callable[[ParsedBody], Any]


def _input_builders(model: TrainedModel, validator: RecordValidator) -> dict[str, InputBuilder]:
    """Two ways to hand validated rows to the pipeline, both with the values ``TrainedModel`` would give it.

    ``columns``: a dict of column arrays, as ``as_model_columns`` builds (no pandas), for pipelines whose first
    step reads a mapping, like cairn's ``TabularEncoder``. ``frame``: a DataFrame like ``TrainedModel.frame``
    (float64 numbers, object categories), for any scikit-learn pipeline, such as a ``ColumnTransformer``. It is
    built from two blocks rather than column by column, which is several times faster on one row.
    """
    feature_names = model.feature_names
    number_names, category_names = validator.number_names, validator.category_names

    def blocks(parsed: ParsedBody) -> tuple[np.ndarray, np.ndarray]:
        rows = len(parsed.numbers)
        numbers = np.array(parsed.numbers, dtype="float64").reshape(rows, len(number_names))
        categories = np.empty((rows, len(category_names)), dtype=object)
        if category_names:
            categories[:] = parsed.categories
        return numbers, categories

    def columns(parsed: ParsedBody) -> dict[str, np.ndarray]:
        numbers, categories = blocks(parsed)
        by_name = {name: numbers[:, position] for position, name in enumerate(number_names)}
        by_name.update({name: categories[:, position] for position, name in enumerate(category_names)})
        return {name: by_name[name] for name in feature_names}

    def frame(parsed: ParsedBody) -> pd.DataFrame:
        numbers, categories = blocks(parsed)
        parts = []
        if number_names:
            parts.append(pd.DataFrame(numbers, columns=number_names))
        if category_names:
            parts.append(pd.DataFrame(categories, columns=category_names, dtype=object))
        table = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
        return table[feature_names]

    return {"columns": columns, "frame": frame}


def _warm_up(model: TrainedModel, validator: RecordValidator) -> ParsedBody:
    """The features' examples as a request, so the first real request does not pay for lazy initialisation."""
    try:
        return validator.parse(_warm_up_record(model))
    except RequestValidationError:
        return validator.parse({})


def _choose_input(model: TrainedModel, validator: RecordValidator, sample: ParsedBody) -> InputBuilder:
    """Column arrays when the pipeline takes them and predicts the same as from a frame; a frame otherwise."""
    builders = _input_builders(model, validator)
    from_frame = model.answer(builders["frame"](sample))[0]
    try:
        from_columns = model.answer(builders["columns"](sample))[0]
    except Exception:  # a ColumnTransformer, for one, wants a 2-D table
        return builders["frame"]
    if np.shape(from_columns) != np.shape(from_frame) or not np.array_equal(from_columns, from_frame):
        logger.warning("model %s v%s predicts differently from column arrays; using DataFrames", model.name,
                       model.version)
        return builders["frame"]
    return builders["columns"]


def _api_key_guard(expected: str) -> Callable[..., Any]:
    scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                          description="The key the server was started with (deployment.api_key_env).")
    expected_bytes = expected.encode("utf-8")

    async def require_api_key(given: str | None = Security(scheme)) -> None:
        if given is None or not secrets.compare_digest(given.encode("utf-8"), expected_bytes):
            detail = (f"Missing API key: send it in the {API_KEY_HEADER} header" if given is None
                      else f"Invalid API key in the {API_KEY_HEADER} header")
            raise HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "APIKey"})

    return require_api_key


def _report_predictions(on_predictions: OnPredictions, records: list[dict[str, Any]],
                        predictions: list[Any]) -> None:
    """Runs the monitoring hook after the response; a failing hook is logged, never turned into an error."""
    try:
        on_predictions(records, predictions)
    except Exception:
        logger.exception("on_predictions failed for %d record(s); the predictions were served", len(records))


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
    record_schema = record_model(model.features).model_json_schema(
        ref_template="#/components/schemas/{model}")
    classification = model.problem in ("binary", "multiclass")
    class_labels = _class_labels(model) if classification else []
    identity = {"model": model.name, "version": model.version}
    health_body = _json({"status": "ok", **identity})
    metadata_body = _json(_metadata(model))
    readiness: dict[str, Any] = {"status": "starting", "detail": None}

    def answer(parsed: ParsedBody) -> tuple[bytes, list[Any]]:
        labels, class_probabilities = model.answer(pipeline_input(parsed))
        predictions = labels.tolist()
        content: dict[str, Any] = (
            {"prediction": predictions[0]} if parsed.single else {"predictions": predictions})
        if classification:
            probabilities = [dict(zip(class_labels, row, strict=True)) for row in class_probabilities.tolist()]
            content["probabilities"] = probabilities[0] if parsed.single else probabilities
        content.update(identity)
        return _json(content), predictions

    try:
        sample = _warm_up(model, validator)
        if model.personal_columns:  # hashed or masked in training: requests go through the model's own path
            pipeline_input: InputBuilder = lambda parsed: model.inputs(parsed.records)  # noqa: E731
        else:
            pipeline_input = _choose_input(model, validator, sample)
        answer(sample)
    except Exception as error:
        logger.exception("model %s v%s cannot predict its warm-up record", model.name, model.version)
        pipeline_input = _input_builders(model, validator)["frame"]
        warm_up_failure: str | None = f"the model cannot predict a sample record: {error!r}"
    else:
        warm_up_failure = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up_failure is None:
            readiness.update(status="ready", detail=None)
        else:
            readiness.update(status="failed", detail=warm_up_failure)
        yield

    app = FastAPI(
        title=f"cairn · {model.name}",
        version=str(model.version),
        description=(f"Predicts {model.target} ({model.problem}) with model {model.name} "
                     f"version {model.version}. Every input field is optional: missing values are imputed."),
        lifespan=lifespan,
    )
    guarded = [Depends(_api_key_guard(api_key))] if api_key is not None else []
    unauthorized = {401: {"model": Unauthorized, "description": "Missing or invalid API key"}} if api_key else {}
    record_ref = {"$ref": "#/components/schemas/Record"}

    @app.post(
        "/predict",
        dependencies=guarded,
        summary="Predict one record or an array of records",
        response_class=JSONResponse,
        responses={
            200: {"description": "One prediction for an object, a list for an array",
                  "content": {"application/json": {"schema": {"anyOf": [
                      {"$ref": "#/components/schemas/Prediction"},
                      {"$ref": "#/components/schemas/Predictions"}]}}}},
            422: {"model": RequestErrors, "description": "Each bad field: where, what was wrong"},
            **unauthorized,
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
            "anyOf": [record_ref, {"type": "array", "items": record_ref, "minItems": 1}]}}}}},
    )
    async def predict(request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body)
        except ValueError as error:
            position = getattr(error, "pos", 0)
            raise RequestValidationError([{
                "loc": ["body", position], "type": "json_invalid", "input": {},
                "msg": f"JSON decode error: {getattr(error, 'msg', error)}",
                "ctx": {"error": str(getattr(error, "msg", error))}}]) from None
        parsed = validator.parse(payload)
        if len(parsed.records) <= INLINE_ROWS:
            content, predictions = answer(parsed)
        else:
            content, predictions = await run_in_threadpool(answer, parsed)
        background = None
        if on_predictions is not None:
            background = BackgroundTask(_report_predictions, on_predictions, parsed.records, predictions)
        return Response(content, media_type="application/json", background=background)

    @app.get("/health", response_model=Health, summary="Liveness: the process answers")
    async def health() -> Response:
        return Response(health_body, media_type="application/json")

    @app.get("/ready", response_model=Readiness, summary="Readiness: the model is loaded and predicts",
             responses={503: {"model": Readiness, "description": "Starting, or the model failed to predict"}})
    async def ready() -> Response:
        status_code = 200 if readiness["status"] == "ready" else 503
        content = {key: value for key, value in readiness.items() if value is not None}
        return Response(_json(content), status_code=status_code, media_type="application/json")

    @app.get("/metadata", response_model=Metadata, dependencies=guarded, summary="The model and its inputs",
             responses=unauthorized)
    async def metadata() -> Response:
        return Response(metadata_body, media_type="application/json")

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The default schema plus the record model, which ``/predict`` reads by hand rather than as a parameter."""
        if app.openapi_schema is None:
            schema = default_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Record"] = record_schema
            for extra in (Prediction, Predictions):
                components.setdefault(extra.__name__, extra.model_json_schema(
                    ref_template="#/components/schemas/{model}"))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(model: TrainedModel, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          on_predictions: OnPredictions | None = None) -> None:
    """Serves ``model`` until interrupted: one uvicorn worker, warnings only, no access log (it costs per request).

    One worker because the pipeline is CPU-bound and holds the GIL; scale with processes behind a balancer.
    """
    app = create_app(model, api_key=api_key, on_predictions=on_predictions)
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False)

"""What the routes share: one ``ServingState`` per app, kept on ``app.state`` and handed out by ``Depends``.

State lives on the app rather than in module globals or closures, so the routers are plain module-level
``APIRouter`` objects and several apps (several models) can be served from one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from cairn.model.trained import TrainedModel
from cairn.serving.description import health_body, metadata_body
from cairn.serving.hook import OnFeedback, OnPredictions
from cairn.serving.log_queue import QueuedHook
from cairn.serving.metrics import ServiceMetrics
from cairn.serving.payloads import MAX_BATCH, MAX_BODY_BYTES
from cairn.serving.predictor import CLASSIFICATION, Predictor, class_labels, start_predictor
from cairn.serving.schemas import RecordValidator

__all__ = ["ServingState", "ServingStateDep", "build_state", "lifespan", "serving_state"]


@dataclass
class ServingState:
    """The loaded model and everything derived from it once, plus the readiness the probes report."""

    validator: RecordValidator
    predictor: Predictor
    health_body: bytes
    metadata_body: bytes
    api_key: bytes | None  # UTF-8, for secrets.compare_digest; None: no key required
    on_predictions: OnPredictions | None
    warm_up_failure: str | None
    max_body_bytes: int = MAX_BODY_BYTES  # a bigger request body is a 413
    max_batch: int = MAX_BATCH  # more records in one /predict or /explain request is a 413
    status: Literal["starting", "ready", "failed"] = "starting"
    detail: str | None = None
    metrics: ServiceMetrics | None = None  # None: GET /metrics answers nothing and nothing is counted
    on_feedback: OnFeedback | None = None  # None: no store to keep ground truth in, POST /feedback is a 404

    def start(self) -> None:
        """Ready once the server runs (called by the lifespan), unless the model failed its warm-up."""
        if self.warm_up_failure is None:
            self.status, self.detail = "ready", None
        else:
            self.status, self.detail = "failed", self.warm_up_failure

    def readiness(self) -> dict[str, str]:
        """The ``Readiness`` body: the status, and the detail when there is one."""
        return {"status": self.status} if self.detail is None else {"status": self.status, "detail": self.detail}


def build_state(model: TrainedModel, validator: RecordValidator, *, api_key: str | None,
                on_predictions: OnPredictions | None, max_body_bytes: int = MAX_BODY_BYTES,
                on_feedback: OnFeedback | None = None, max_batch: int = MAX_BATCH) -> ServingState:
    """Everything the routes need, computed before the first request: class labels, fixed bodies, the warm-up.
    The hook is called through a queue and a writer thread (cairn.serving.log_queue): never on the request path."""
    if on_predictions is not None and not isinstance(on_predictions, QueuedHook):
        on_predictions = QueuedHook(on_predictions)
    labels = class_labels(model) if model.problem in CLASSIFICATION else None
    health, metadata = health_body(model), metadata_body(model)
    predictor, warm_up_failure = start_predictor(model, validator, labels)
    return ServingState(validator=validator, predictor=predictor, health_body=health, metadata_body=metadata,
                        api_key=None if api_key is None else api_key.encode("utf-8"),
                        on_predictions=on_predictions, warm_up_failure=warm_up_failure,
                        max_body_bytes=max_body_bytes, on_feedback=on_feedback, max_batch=max_batch)


async def serving_state(request: Request) -> ServingState:
    """The state of the app serving this request (async: a sync dependency would cost a thread-pool hop)."""
    state: ServingState = request.app.state.serving
    return state


ServingStateDep = Annotated[ServingState, Depends(serving_state)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Marks the app ready (or failed) when the server starts; until then ``/ready`` says "starting". Starts the
    app's background loops (``app.state.background``: e.g. following the champion) and cancels them at shutdown."""
    state: ServingState = app.state.serving
    state.start()
    loops = [asyncio.create_task(loop(app)) for loop in getattr(app.state, "background", [])]
    try:
        yield
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        hook = app.state.serving.on_predictions
        if isinstance(hook, QueuedHook):  # what was served before the stop is written before the process exits
            await run_in_threadpool(hook.close)

"""What an operator watches: ``GET /metrics`` in Prometheus' text format, counted by one small ASGI middleware.

Each app gets its own ``CollectorRegistry`` (no module-level state: several apps in one process keep apart), and the
middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, whose per-request task costs more than the
counting. Paths the app does not serve are counted as ``other``, so a scanner cannot grow the label set.

    cairn_requests_total{route, status}              every answered request
    cairn_request_duration_seconds{route}            its latency, as a histogram
    cairn_errors_total{route, status}                the requests answered 4xx or 5xx
    cairn_predictions_total                          records predicted (a batch counts each record)
    cairn_model_info{name, version, problem, target} the model served
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest

from cairn.model.trained import TrainedModel

__all__ = ["CONTENT_TYPE", "MetricsMiddleware", "ServiceMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus reads (``generate_latest`` writes it)."""
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""From half a millisecond (a one-record answer) to seconds (a large batch or an explanation)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServiceMetrics:
    """The service's counters and histogram, in a registry of their own."""

    def __init__(self, model: TrainedModel) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("cairn_requests", "Requests answered, by route and status code.",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("cairn_request_duration_seconds", "Time to answer a request, by route.",
                                 ["route"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.errors = Counter("cairn_errors", "Requests answered with a 4xx or 5xx status, by route and status.",
                              ["route", "status"], registry=self.registry)
        self.predictions = Counter("cairn_predictions", "Records predicted by POST /predict.",
                                   registry=self.registry)
        Info("cairn_model", "The model this server answers with.", registry=self.registry).info(
            {"name": model.name, "version": str(model.version), "problem": model.problem, "target": model.target})
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """One answered request; the labelled children are looked up once per (route, status), not per request."""
        key = (route, status)
        children = self._children.get(key)
        if children is None:
            label = str(status)
            children = (self.requests.labels(route, label), self.latency.labels(route),
                        self.errors.labels(route, label) if status >= 400 else None)
            self._children[key] = children
        requests, latency, errors = children
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return bytes(generate_latest(self.registry))


class MetricsMiddleware:
    """Counts and times every HTTP request of ``app`` into ``metrics``, by the route it asked for."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, routes: frozenset[str]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        route = path if path in self.routes else "other"
        status, counted = 500, False  # 500 unless the app starts a response

        async def send_counted(message: Message) -> None:
            nonlocal status, counted
            await send(message)
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                counted = True  # timed when the answer is out: a background task after it is not the client's wait
                self.metrics.observe(route, status, time.perf_counter() - started)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if not counted:
                self.metrics.observe(route, status, time.perf_counter() - started)

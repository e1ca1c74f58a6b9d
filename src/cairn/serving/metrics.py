"""What an operator watches: ``GET /metrics`` in Prometheus' text format, counted by one small ASGI middleware.

Each app gets its own ``CollectorRegistry`` (no module-level state: several apps in one process keep apart), and the
middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, whose per-request task costs more than the
counting. Paths the app does not serve are counted as ``other``, so a scanner cannot grow the label set.

    cairn_requests_total{route, status}              every answered request
    cairn_request_duration_seconds{route}            its latency, as a histogram
    cairn_errors_total{route, status}                the requests answered 4xx or 5xx
    cairn_predictions_total                          records predicted (a batch counts each record)
    cairn_model_info{name, version, problem, target} the model served
    cairn_prediction_log_dropped_total               records served but not logged (the log's queue was full)
    cairn_prediction_log_queue_depth                 requests waiting for the prediction log's writer

With several worker processes (`cairn serve --workers N`), a scrape reaches one of them, so the counts must be
whole across processes: `serve` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary folder
(`shared_metrics_folder`) before the workers start, prometheus-client then keeps every value in a memory-mapped
file per process there, and the scrape merges the files (``MultiProcessCollector``). Counters and histograms are
summed over every process that ever ran (a worker that died still counted its requests). Two metrics need a
mode of their own:

- the model is a gauge in ``livemax`` mode rather than an ``Info`` (which has no multiprocess form): one sample per
  model, as with one process, at 1 while any live worker serves that model (during a switch to a new champion
  both versions show 1; a version no worker serves any more stays at 0, since labels cannot be removed there);
- the queue depth is ``livesum``: the requests waiting in all live workers' queues together, which is the backlog
  an operator watches; a dead worker's queue died with it, so it must not count (``live`` modes drop the process
  once it is marked dead). Each worker refreshes its value twice a second (a callback cannot run in another
  process), and the worker answering the scrape right before answering.

Workers that exit are marked dead by themselves (`cairn.project.workers`); one killed outright is found at the next
scrape (its pid gone) and marked then. With one worker nothing of this applies: no files, one in-process registry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from cairn.model.trained import TrainedModel

__all__ = ["CONTENT_TYPE", "MULTIPROC_VARIABLE", "MetricsMiddleware", "ServiceMetrics", "multiprocess_folder",
           "shared_metrics_folder"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus reads (``generate_latest`` writes it)."""
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""From half a millisecond (a one-record answer) to seconds (a large batch or an explanation)."""
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""Where prometheus-client's multiprocess mode keeps each process's values (read when it is first imported)."""
QUEUE_REFRESH_S = 0.5
"""How often a worker writes its prediction-log queue depth to the shared folder."""

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
        self.log_dropped = Counter("cairn_prediction_log_dropped", "Records served but not logged: the prediction "
                                   "log's queue was full.", registry=self.registry)
        self.log_queue = Gauge("cairn_prediction_log_queue_depth", "Requests waiting to be written to the "
                               "prediction log.", multiprocess_mode="livesum", registry=self.registry)
        self.folder = multiprocess_folder()
        """The folder shared with the other workers, or None: this process counts alone, in memory."""
        self.model: Info | Gauge
        if self.folder is None:
            self.model = Info("cairn_model", "The model this server answers with.", registry=self.registry)
        else:
            self.model = Gauge("cairn_model_info", "The model this server answers with (1 while a worker serves "
                               "it).", ["name", "version", "problem", "target"], multiprocess_mode="livemax",
                               registry=self.registry)
            self._merged = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self._merged, path=str(self.folder))  # type: ignore[no-untyped-call]
        self._served: dict[str, str] | None = None
        self._depth: Callable[[], float] | None = None
        self.serving(model)
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def watch_log_queue(self, depth: Callable[[], float]) -> None:
        """The queue depth gauge reads `depth()` at each scrape (in a worker among several: also twice a second,
        from a thread, into the shared folder)."""
        if self.folder is None:
            self.log_queue.set_function(depth)
            return
        first = self._depth is None
        self._depth = depth
        self._refresh_queue_depth()
        if first:
            threading.Thread(target=self._refresh_queue_depth_forever, name="cairn-metrics-queue-depth",
                             daemon=True).start()

    def serving(self, model: TrainedModel) -> None:
        """The info metric names `model` (again when the service switches to a new champion)."""
        labels = {"name": model.name, "version": str(model.version), "problem": model.problem,
                  "target": model.target}
        if isinstance(self.model, Info):
            self.model.info(labels)
            return
        if self._served is not None and self._served != labels:
            self.model.labels(**self._served).set(0)  # this worker no longer serves it (labels cannot be removed)
        self.model.labels(**labels).set(1)
        self._served = labels

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
        """The registry in Prometheus' text format (among several workers: every worker's values, merged)."""
        if self.folder is None:
            return bytes(generate_latest(self.registry))
        self._refresh_queue_depth()
        forget_dead_workers(self.folder)
        return bytes(generate_latest(self._merged))

    def _refresh_queue_depth(self) -> None:
        if self._depth is not None:
            with suppress(Exception):  # a gauge never fails a scrape, nor stops the thread
                self.log_queue.set(self._depth())

    def _refresh_queue_depth_forever(self) -> None:
        while True:
            time.sleep(QUEUE_REFRESH_S)
            self._refresh_queue_depth()


def multiprocess_folder() -> Path | None:
    """The folder this process shares its metrics through (prometheus-client's multiprocess mode), or None.

    The mode is chosen when prometheus-client is first imported, from ``PROMETHEUS_MULTIPROC_DIR``: the variable
    set later changes nothing, so both must hold."""
    folder = os.environ.get(MULTIPROC_VARIABLE)
    if folder and getattr(values.ValueClass, "_multiprocess", False):
        return Path(folder)
    return None


@contextmanager
def shared_metrics_folder() -> Iterator[Path]:
    """For the worker processes `serve` starts: ``PROMETHEUS_MULTIPROC_DIR`` names a fresh temporary folder while
    they run (a process started inside counts into it); at exit the folder is removed and the variable restored.

    A fresh folder each time: files left by an earlier server would add their counts to this one's."""
    folder = Path(tempfile.mkdtemp(prefix="cairn-metrics-"))
    previous = os.environ.get(MULTIPROC_VARIABLE)
    os.environ[MULTIPROC_VARIABLE] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_VARIABLE, None)
        else:
            os.environ[MULTIPROC_VARIABLE] = previous
        shutil.rmtree(folder, ignore_errors=True)


def forget_dead_workers(folder: Path) -> list[int]:
    """Marks dead the processes whose live gauges are in `folder` but which are gone (a worker killed outright
    cannot mark itself); returns their pids. Counters and histograms keep what they counted."""
    dead = []
    for file in folder.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and int(pid) not in dead and not _alive(int(pid)):
            mark_process_dead(int(pid), str(folder))  # type: ignore[no-untyped-call]
            dead.append(int(pid))
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped by its parent) is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


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

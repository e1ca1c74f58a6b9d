"""One-row latency as every bench measures it: a warm-up, then each call timed on its own; and an app served on a
loopback port in a thread, for the benches that time calls over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import uvicorn

WARMUP_CALLS = 10


def latency_percentiles_ms(call: Callable[[Any], Any], inputs: list[Any], *, percentiles: tuple[float, ...] = (50, 99),
                           warmup: int = WARMUP_CALLS) -> tuple[float, ...]:
    for item in inputs[:warmup]:
        call(item)
    timings = []
    for item in inputs:
        began = time.perf_counter()
        call(item)
        timings.append((time.perf_counter() - began) * 1000)
    return tuple(float(value) for value in np.percentile(timings, percentiles))


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The base URL of `app` served by uvicorn on a free loopback port, stopped on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

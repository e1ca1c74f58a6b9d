"""One-row latency as every bench measures it: a warm-up, then each call timed on its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

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

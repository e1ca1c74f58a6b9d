"""The prediction log off the request path: `/predict` puts what it served on a bounded queue and a writer thread
hands it to the hook (which protects personal data and appends to the log).

A prediction never waits for the log: when the queue is full (the disk is slow, the hook failing), the batch is
dropped and counted (`cairn_prediction_log_dropped_total` on `/metrics`), never blocking or failing the request.
The queue depth is on `/metrics` too. At shutdown the writer drains what is queued (a bounded wait) before the
process exits, so a graceful stop loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from cairn.serving.hook import OnPredictions, report_predictions, takes_ids

__all__ = ["QUEUE_BATCHES", "QueuedHook"]

logger = logging.getLogger(__name__)

QUEUE_BATCHES = 10_000
"""Requests waiting for the writer at most; beyond it a request's records are dropped from the log, and counted."""

_STOP = object()


class QueuedHook:
    """``hook(records, predictions[, ids])`` called by a writer thread, in the order requests were answered."""

    def __init__(self, hook: OnPredictions, *, maxsize: int = QUEUE_BATCHES,
                 on_drop: Callable[[int], None] | None = None) -> None:
        self.hook = hook
        self.with_ids = takes_ids(hook)
        self.on_drop = on_drop
        self.dropped = 0  # records, not requests
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._writer = threading.Thread(target=self._drain, name="cairn-prediction-log", daemon=True)
        self._writer.start()

    def __call__(self, records: list[dict[str, Any]], predictions: list[Any], ids: list[Any] | None = None) -> None:
        """Queue one request's records; never blocks: a full queue drops them and counts them."""
        try:
            self._queue.put_nowait((records, predictions, ids if self.with_ids else None))
        except queue.Full:
            self.dropped += len(records)
            if self.on_drop is not None:
                self.on_drop(len(records))

    @property
    def depth(self) -> int:
        """Requests queued and not yet written."""
        return self._queue.qsize()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the writer (waiting `timeout_s` at most)."""
        if not self._writer.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            logger.warning("the prediction log did not drain in %.0f s; %d requests not logged", timeout_s,
                           self.depth)
            return
        self._writer.join(timeout_s)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            records, predictions, ids = item
            report_predictions(self.hook, records, predictions, ids)  # a failing hook is logged, never raised

"""The monitoring hook: what ``/predict`` served, handed to the caller after the response has gone out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["OnPredictions", "report_predictions"]

logger = logging.getLogger(__name__)

OnPredictions = Callable[[list[dict[str, Any]], list[Any]], None]
"""``on_predictions(records, predictions)``: the records as received and the predictions as served."""


def report_predictions(on_predictions: OnPredictions, records: list[dict[str, Any]],
                       predictions: list[Any]) -> None:
    """Runs the hook after the response; a failing hook is logged, never turned into an error."""
    try:
        on_predictions(records, predictions)
    except Exception:
        logger.exception("on_predictions failed for %d record(s); the predictions were served", len(records))

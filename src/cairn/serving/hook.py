"""The monitoring hook: what ``/predict`` served, handed to the caller after the response has gone out."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["OnFeedback", "OnPredictions", "report_predictions", "takes_ids"]

logger = logging.getLogger(__name__)

OnPredictions = Callable[..., None]
"""``on_predictions(records, predictions)`` or ``on_predictions(records, predictions, ids)``: the records as
received, the predictions as served and (to a hook that takes a third argument) their prediction ids."""

OnFeedback = Callable[[list[dict[str, Any]]], dict[str, Any]]
"""``on_feedback(items)``: store ``[{"id": ..., "actual": ...}]`` (each actual checked against the model) and say
what became of them: ``{"accepted": n, "unknown_ids": m, "unknown": [first few], "version": ...}``."""


def takes_ids(on_predictions: OnPredictions) -> bool:
    """Whether the hook takes the prediction ids as a third argument (hooks written before ids existed take two)."""
    try:
        inspect.signature(on_predictions).bind([], [], [])
    except TypeError:
        return False
    except ValueError:  # a builtin without a signature
        return False
    return True


def report_predictions(on_predictions: OnPredictions, records: list[dict[str, Any]],
                       predictions: list[Any], ids: list[Any] | None = None) -> None:
    """Runs the hook after the response; a failing hook is logged, never turned into an error."""
    try:
        if ids is None:
            on_predictions(records, predictions)
        else:
            on_predictions(records, predictions, ids)
    except Exception:
        logger.exception("on_predictions failed for %d record(s); the predictions were served", len(records))

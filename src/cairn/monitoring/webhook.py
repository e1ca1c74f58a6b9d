"""The monitor's webhook: its JSON report POSTed to a URL (a chat hook, a scheduler) when it advises retraining."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["TIMEOUT_S", "post_report"]

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0


def post_report(url: str, document: dict[str, Any], *, timeout_s: float = TIMEOUT_S) -> str:
    """POST ``document`` as JSON; returns what happened ("sent (HTTP 200)", "failed: ..."). A failure is logged as
    a warning and never raised: the monitor's verdict does not depend on the receiver."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}/..."  # a hook's path often is its secret
    try:
        answer = httpx.post(url, content=json.dumps(document, default=str).encode("utf-8"),
                            headers={"Content-Type": "application/json"}, timeout=timeout_s)
    except (httpx.HTTPError, ValueError) as error:
        log.warning("the monitoring webhook %s failed: %s", shown, error)
        return f"failed: {type(error).__name__}: {error}"[:300]
    if answer.status_code >= 400:
        log.warning("the monitoring webhook %s answered HTTP %d", shown, answer.status_code)
        return f"failed: HTTP {answer.status_code}"
    return f"sent (HTTP {answer.status_code})"

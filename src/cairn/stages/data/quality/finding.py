"""One data-quality observation, the record every check returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One data-quality observation: how serious it is, which columns, how many rows, and what to do."""

    severity: str  # "info" | "warn" | "error"
    check: str  # short name, e.g. "missing values", "target leakage"
    columns: list[str]
    count: int  # rows (or values) involved
    detail: str  # one plain sentence
    example: str | None = None  # one value, through `mask`

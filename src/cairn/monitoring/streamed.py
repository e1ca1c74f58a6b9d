"""`cairn monitor --data FILE` on a file of any length: one pass, a batch at a time, memory bounded by the batch.

Drift is counted batch by batch against the stored reference statistics (cairn.monitoring.drift
`batched_window_drift`). Beside it, two things are kept while the batches go by, never the file: a uniform sample of
the rows that carry the target (at most LABELLED_SAMPLE_ROWS, by the smallest random keys, so it is uniform without
knowing the length in advance) on which the success metrics are measured, and the first and last time in
`monitoring.time_column`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import DataError
from cairn.monitoring.drift import DriftReport, batched_window_drift

__all__ = ["LABELLED_SAMPLE_ROWS", "STREAMED_CHUNK_ROWS", "StreamedWindow", "streamed_window"]

LABELLED_SAMPLE_ROWS = 100_000
"""Labelled rows the success metrics are measured on at most: the CI of a MAPE on 100,000 rows is already narrow."""

STREAMED_CHUNK_ROWS = 100_000
"""Rows read at a time: a batch of the Ames schema is about 100 MB in pandas."""

_KEY = "__cairn_sample_key"


@dataclass(frozen=True)
class StreamedWindow:
    drift: DriftReport
    labelled: pd.DataFrame | None  # the rows with the target, or a uniform sample of them
    labelled_rows: int  # how many rows had the target in all
    rows: int
    first_at: datetime | None
    last_at: datetime | None
    columns: list[str]  # the file's columns, as its first batch has them


def streamed_window(batches: Iterable[pd.DataFrame], *, baseline: Any, model: Any, target: str,
                    time_column: str | None, total_rows: int | None, seed: int, where: str) -> StreamedWindow:
    """Drift, the labelled sample and the time span of a window read in `batches`, in one pass."""
    rng = np.random.default_rng(seed + 7)
    kept: list[pd.DataFrame] = []
    seen = {"rows": 0, "labelled": 0}
    span: list[pd.Timestamp] = []
    columns: list[str] = []

    def watched() -> Iterator[pd.DataFrame]:
        sample: pd.DataFrame | None = None
        for batch in batches:
            columns[:] = columns or [str(name) for name in batch.columns]
            seen["rows"] += len(batch)
            if target in batch.columns:
                known = batch[batch[target].notna()]
                seen["labelled"] += len(known)
                if len(known):
                    keyed = known.assign(**{_KEY: rng.random(len(known))})
                    sample = keyed if sample is None else pd.concat([sample, keyed], ignore_index=True)
                    if len(sample) > LABELLED_SAMPLE_ROWS:
                        sample = sample.nsmallest(LABELLED_SAMPLE_ROWS, _KEY)
            if time_column and time_column in batch.columns:
                times = pd.to_datetime(batch[time_column], errors="coerce", utc=True).dropna()
                if len(times):
                    span.extend([times.min(), times.max()])
            yield batch
        if sample is not None:
            kept.append(sample.drop(columns=_KEY))

    drift = batched_window_drift(baseline, _nonempty(watched(), where=where), model=model, total_rows=total_rows,
                                 seed=seed)
    labelled = kept[0].reset_index(drop=True) if kept else None
    first = min(span).to_pydatetime() if span else None
    last = max(span).to_pydatetime() if span else None
    return StreamedWindow(drift, labelled, seen["labelled"], seen["rows"], first, last, columns)


def _nonempty(batches: Iterator[pd.DataFrame], *, where: str) -> Iterator[pd.DataFrame]:
    """The batches; a file with no row at all is a user error, said as for any other empty file."""
    rows = 0
    for batch in batches:
        rows += len(batch)
        yield batch
    if rows == 0:
        raise DataError.single(f"The data file {where} holds no rows.", where="--data",
                               expected="at least one row of data", got="an empty table",
                               fix="pass a file with data")

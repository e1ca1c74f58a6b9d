"""`cairn monitor --data FILE` on a file of any length: one pass, a batch at a time, memory bounded by the batch.

Drift is counted batch by batch against the stored reference statistics (cairn.monitoring.drift
`counted_window`). Beside it, two things are kept while the batches go by, never the file: a uniform sample of
the rows that carry the target (at most LABELLED_SAMPLE_ROWS, by the smallest random keys, so it is uniform without
knowing the length in advance) on which the success metrics are measured, and the first and last time in
`monitoring.time_column`.

A window may also be counted in parts (`window_part`: one Parquet file or row group each, on Dask workers) and the
parts merged (`merged_parts`), never the rows: the counts are sums, the samples keep the smallest keys of all
parts, and every random key is drawn for a row by its position in the whole window (cairn.monitoring.drift
`generator_at`), so parts merged in row order give the very report a single pass gives (`streamed_window`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import DataError
from cairn.monitoring.drift import (
    DriftReport,
    WindowDrift,
    WindowTally,
    counted_window,
    empty_window,
    generator_at,
    judged_window,
)

__all__ = ["LABELLED_SAMPLE_ROWS", "STREAMED_CHUNK_ROWS", "StreamedWindow", "WindowPart", "finished_window",
           "merged_parts", "streamed_window", "window_part"]

LABELLED_SAMPLE_ROWS = 100_000
"""Labelled rows the success metrics are measured on at most: the CI of a MAPE on 100,000 rows is already narrow."""

STREAMED_CHUNK_ROWS = 100_000
"""Rows read at a time: a batch of the Ames schema is about 100 MB in pandas."""

_KEY = "__cairn_sample_key"
_LABELLED_SEED = 7  # added to the project seed: the labelled sample's keys, apart from the drift sample's


@dataclass(frozen=True)
class StreamedWindow:
    drift: DriftReport
    labelled: pd.DataFrame | None  # the rows with the target, or a uniform sample of them
    labelled_rows: int  # how many rows had the target in all
    rows: int
    first_at: datetime | None
    last_at: datetime | None
    columns: list[str]  # the file's columns, as its first batch has them


@dataclass
class WindowPart:
    """What one part of a window gives, and what parts merged give: drift counts (a ``WindowTally``, without the
    reference), the labelled rows with their random keys (at most LABELLED_SAMPLE_ROWS), the time span, the
    columns. Small: never the rows beyond the samples."""

    drift: WindowTally | None  # None: the part had no batch at all
    labelled: pd.DataFrame | None  # with the _KEY column
    labelled_rows: int = 0
    rows: int = 0
    first_at: pd.Timestamp | None = None
    last_at: pd.Timestamp | None = None
    columns: list[str] = field(default_factory=list)


def streamed_window(batches: Iterable[pd.DataFrame], *, baseline: Any, model: Any, target: str,
                    time_column: str | None, total_rows: int | None, seed: int, where: str) -> StreamedWindow:
    """Drift, the labelled sample and the time span of a window read in `batches`, in one pass."""
    part = window_part(batches, baseline=baseline, model=model, target=target, time_column=time_column,
                       total_rows=total_rows, seed=seed)
    return finished_window([part], baseline=baseline, model=model, seed=seed, where=where)


def window_part(batches: Iterable[pd.DataFrame], *, baseline: Any, model: Any, target: str,
                time_column: str | None, total_rows: int | None, seed: int, row_offset: int = 0) -> WindowPart:
    """One part of a window (or all of it) counted in one pass; ``row_offset``: where the part starts in the
    window, ``total_rows``: the whole window's rows (cairn.monitoring.drift ``counted_window``)."""
    labelled_keys = generator_at(seed + _LABELLED_SEED, row_offset)
    part = WindowPart(drift=None, labelled=None)
    span: list[pd.Timestamp] = []

    def watched() -> Iterator[pd.DataFrame]:
        for batch in batches:
            part.columns = part.columns or [str(name) for name in batch.columns]
            if not len(batch):  # an empty part of a window is no error: the window as a whole may still be
                continue
            part.rows += len(batch)
            keys = labelled_keys.random(len(batch))  # one key per row, labelled or not: a part's keys are known
            if target in batch.columns:
                known = batch[target].notna().to_numpy()
                part.labelled_rows += int(np.count_nonzero(known))
                if known.any():
                    keyed = batch[known].assign(**{_KEY: keys[known]})
                    part.labelled = _kept(keyed if part.labelled is None else
                                          pd.concat([part.labelled, keyed], ignore_index=True))
            if time_column and time_column in batch.columns:
                times = pd.to_datetime(batch[time_column], errors="coerce", utc=True).dropna()
                if len(times):
                    span.extend([times.min(), times.max()])
            yield batch

    window = counted_window(baseline, watched(), model=model, total_rows=total_rows, seed=seed,
                            row_offset=row_offset)
    part.drift = window.tally() if window is not None else None
    part.first_at, part.last_at = (min(span), max(span)) if span else (None, None)
    return part


def merged_parts(parts: Iterable[WindowPart], *, baseline: Any, model: Any, seed: int) -> tuple[WindowPart,
                                                                                               WindowDrift]:
    """The parts of a window, in row order, as one: their drift counts merged into a ``WindowDrift`` against the
    baseline, the labelled samples into one, the time spans into one. Each part is merged as it comes, so
    `parts` may be a stream of results from the workers."""
    window = empty_window(baseline, model=model, seed=seed)
    whole = WindowPart(drift=None, labelled=None)
    for part in parts:
        if part.drift is not None:
            window.merge(part.drift)
        whole.rows += part.rows
        whole.labelled_rows += part.labelled_rows
        whole.columns = whole.columns or part.columns
        if part.labelled is not None:
            whole.labelled = _kept(part.labelled if whole.labelled is None else
                                   pd.concat([whole.labelled, part.labelled], ignore_index=True))
        whole.first_at = _earliest(whole.first_at, part.first_at)
        whole.last_at = _latest(whole.last_at, part.last_at)
    whole.drift = window.tally()
    return whole, window


def finished_window(parts: Iterable[WindowPart], *, baseline: Any, model: Any, seed: int, where: str
                    ) -> StreamedWindow:
    """The window's report from its parts (in row order): drift judged, the labelled sample without its keys."""
    whole, window = merged_parts(parts, baseline=baseline, model=model, seed=seed)
    if whole.rows == 0:
        raise DataError.single(f"The data file {where} holds no rows.", where="--data",
                               expected="at least one row of data", got="an empty table",
                               fix="pass a file with data")
    drift = judged_window(window, baseline=baseline, seed=seed)
    labelled = None
    if whole.labelled is not None:
        sample = whole.labelled
        if whole.labelled_rows > LABELLED_SAMPLE_ROWS:  # sampled: in key order, whatever the parts
            sample = sample.sort_values(_KEY, kind="stable")
        labelled = sample.drop(columns=_KEY).reset_index(drop=True)
    first = whole.first_at.to_pydatetime() if whole.first_at is not None else None
    last = whole.last_at.to_pydatetime() if whole.last_at is not None else None
    return StreamedWindow(drift, labelled, whole.labelled_rows, whole.rows, first, last, whole.columns)


def _kept(sample: pd.DataFrame) -> pd.DataFrame:
    """The labelled rows with the LABELLED_SAMPLE_ROWS smallest keys (all of them, in row order, below that)."""
    return sample.nsmallest(LABELLED_SAMPLE_ROWS, _KEY) if len(sample) > LABELLED_SAMPLE_ROWS else sample


def _earliest(one: pd.Timestamp | None, other: pd.Timestamp | None) -> pd.Timestamp | None:
    return other if one is None else one if other is None else min(one, other)


def _latest(one: pd.Timestamp | None, other: pd.Timestamp | None) -> pd.Timestamp | None:
    return other if one is None else one if other is None else max(one, other)

"""`cairn predict INPUT -o OUTPUT` on files of any length: read, score and write a chunk at a time.

Memory stays bounded by the chunk, not the file: Parquet is read a record batch at a time, CSV and JSON lines with
pandas' chunked readers (data.source's readers and errors, cairn.stages.data.sources.file_chunks), and each scored
chunk is appended to the output (a Parquet row group, or CSV lines) before the next is read. The output is written
under a temporary name beside it and renamed at the end, so a failed or interrupted scoring leaves no half-written
file. Excel is read whole. A Parquet output keeps the column types of the first chunk (a later CSV chunk whose
whole numbers have a gap is written as nullable integers), so every row group has one schema.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pandas as pd

from cairn.errors import DataError
from cairn.model.ranges import OutOfRange, out_of_range
from cairn.model.trained import TrainedModel
from cairn.project.scored import output_format
from cairn.stages.data.sources import file_chunks, file_format

__all__ = ["CHUNK_ROWS", "Scored", "rows_in", "score_chunk", "score_file"]

CHUNK_ROWS = 50_000
"""Rows scored at a time: about 50 MB of pandas for the example's 80 columns, and a few seconds of work."""


@dataclass(frozen=True)
class Scored:
    """What a batch scoring wrote: rows, where, in which format, and the values clipped to the training range."""

    rows: int
    output: Path | None  # None: CSV on stdout
    kind: str
    out_of_range: list[OutOfRange]


def score_chunk(model: TrainedModel, table: pd.DataFrame) -> tuple[pd.DataFrame, list[OutOfRange]]:
    """`table` itself (the caller's to give: no copy of a chunk is made) with a `prediction` column (and class
    probabilities), and the values clipped to the training range."""
    labels, probabilities = model.answer(model.inputs(table))  # one pass for labels and probabilities
    clipped = out_of_range(model.frame(table), model.features)  # clipped by `inputs`: said, not silent
    table["prediction"] = labels
    if probabilities is not None and model.classes:
        for index, label in enumerate(model.classes):
            table[f"probability_{label}"] = probabilities[:, index]
    return table, clipped


def score_file(model: TrainedModel, path: Path, output: Path | None, *, encoding: str = "utf-8",
               chunk_rows: int = CHUNK_ROWS, progress: Callable[[int], None] | None = None) -> Scored:
    """Scores `path` into `output` (CSV on stdout when None) a chunk at a time; `progress(rows_done)` after each."""
    kind = "csv" if output is None else output_format(output)
    found: dict[str, OutOfRange] = {}
    done = 0
    with _Sink(output, kind) as sink:
        for chunk in file_chunks(path, encoding=encoding, chunk_rows=chunk_rows):
            scored, clipped = score_chunk(model, chunk)
            sink.write(scored)
            for item in clipped:
                found[item.name] = _merged(found.get(item.name), item)
            done += len(chunk)
            if progress is not None:
                progress(done)
    if done == 0:
        raise DataError.single(f"{path} holds no rows to score.", where="INPUT", expected="at least one row",
                               got="none", fix="pass a file with rows")
    return Scored(done, output, kind, list(found.values()))


def rows_in(path: Path) -> int | None:
    """How many rows a Parquet file holds, from its footer; None for formats that do not say without reading."""
    if file_format(Path(path)) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # the reader says what is wrong with the file when scoring starts
        return None


def _merged(before: OutOfRange | None, item: OutOfRange) -> OutOfRange:
    if before is None:
        return item
    further = item.furthest if _beyond(item) > _beyond(before) else before.furthest
    return replace(before, count=before.count + item.count, furthest=further)


def _beyond(item: OutOfRange) -> float:
    return item.furthest - item.high if item.furthest > item.high else item.low - item.furthest


def _like(chunk: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """A later chunk with the column types of the first (CSV chunks are typed one by one: a whole-number column
    with a gap reads as floats), so each row group of a Parquet output has one schema."""
    for name, dtype in first.items():
        if name not in chunk.columns or chunk[name].dtype == dtype:
            continue
        column = chunk[name]
        try:
            if pd.api.types.is_integer_dtype(dtype):
                chunk[name] = pd.to_numeric(column).astype("Int64")
            elif pd.api.types.is_float_dtype(dtype):
                chunk[name] = pd.to_numeric(column).astype("float64")
            elif pd.api.types.is_bool_dtype(dtype):
                chunk[name] = column.astype("boolean")
            else:
                chunk[name] = column.map(lambda value: None if pd.isna(value) else str(value)).astype(object)
        except (ValueError, TypeError):
            raise DataError.single(f"Column {name} changes type part-way through the file.", where=str(name),
                                   expected=f"{dtype} throughout, as in its first rows", got=str(column.dtype),
                                   fix="write the output as .csv, or fix the column's values") from None
    return chunk


class _Sink:
    """Where scored chunks go: CSV on stdout, or a file written under a temporary name and renamed when whole."""

    def __init__(self, output: Path | None, kind: str) -> None:
        self.output, self.kind = output, kind
        self.temporary: Path | None = None
        self.handle: IO[str] | None = None
        self.writer: Any = None
        self.schema: Any = None
        self.dtypes: Any = None
        self.header = True

    def __enter__(self) -> _Sink:
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(prefix=f".{self.output.name}.", suffix=".partial",
                                                dir=self.output.parent)
            os.close(descriptor)
            self.temporary = Path(name)
            if self.kind == "csv":
                self.handle = self.temporary.open("w", encoding="utf-8", newline="")
        else:
            self.handle = sys.stdout
        return self

    def write(self, scored: pd.DataFrame) -> None:
        scored.attrs = {}
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            scored.columns = [str(name) for name in scored.columns]
            if self.writer is None:
                self.dtypes = scored.dtypes
                table = pa.Table.from_pandas(scored, preserve_index=False)
                self.schema = table.schema
                self.writer = pq.ParquetWriter(str(self.temporary), self.schema)
            else:
                table = pa.Table.from_pandas(_like(scored, self.dtypes), preserve_index=False, schema=self.schema)
            self.writer.write_table(table)
            return
        assert self.handle is not None
        scored.to_csv(self.handle, index=False, header=self.header)  # raw: no markup on stdout
        self.header = False

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.handle is not None and self.handle is not sys.stdout:
            self.handle.close()
        elif self.handle is sys.stdout:
            sys.stdout.flush()
        if self.temporary is None or self.output is None:
            return
        if kind is None:
            if self.kind == "parquet" and self.writer is None:  # no row at all: an empty file with no schema
                pd.DataFrame().to_parquet(self.temporary, index=False)
            os.replace(self.temporary, self.output)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.temporary.unlink()

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
import glob
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import pandas as pd

from cairn.errors import DataError
from cairn.model.inputs import Unread, unread_numbers
from cairn.model.ranges import OutOfRange, out_of_range
from cairn.model.trained import TrainedModel
from cairn.monitoring.unseen import TrainingLevels, Unseen
from cairn.privacy import redact_text
from cairn.project.scored import output_format
from cairn.stages.data.sources import COMPRESSIONS, GLOB_CHARS, READERS, file_chunks, file_format
from cairn.words import name_list, short

__all__ = ["CHUNK_ROWS", "Scored", "answer_columns", "input_files", "merged", "merged_out_of_range", "merged_unread",
           "merged_unseen", "replaced_columns", "rows_in", "score_chunk", "score_chunk_read", "score_chunks",
           "score_file", "score_files"]

CHUNK_ROWS = 50_000
"""Rows scored at a time: about 50 MB of pandas for the example's 80 columns, and a few seconds of work."""
SHOWN_CHARS = 60  # of a name or a value a warning quotes


@dataclass(frozen=True)
class Scored:
    """What a batch scoring wrote: rows, where, in which format, and the values clipped to the training range."""

    rows: int
    output: Path | None  # None: CSV on stdout
    kind: str
    out_of_range: list[OutOfRange]
    parts: int = 1  # Parquet parts written, when the output is a folder (cairn.project.partitions)
    missing: tuple[str, ...] = ()  # model inputs the input had no column for: imputed in every row
    unread: tuple[Unread, ...] = ()  # number inputs with text that did not read as a number: imputed in those rows
    unseen: tuple[Unseen, ...] = ()  # category inputs with levels the training split never had
    replaced: tuple[str, ...] = ()  # input columns named as the answers' columns: the answers replace them


def answer_columns(model: TrainedModel) -> list[str]:
    """The columns scoring adds: `prediction`, and a classifier's `probability_<class>`."""
    return ["prediction", *(f"probability_{label}" for label in model.classes or [])]


def replaced_columns(model: TrainedModel, columns: Iterable[Any]) -> list[str]:
    """The input's own columns that scoring's answers replace (a `prediction` column of an earlier scoring)."""
    present = set(columns)
    return [name for name in answer_columns(model) if name in present]


def score_chunk(model: TrainedModel, table: pd.DataFrame) -> tuple[pd.DataFrame, list[OutOfRange]]:
    """`table` itself (the caller's to give: no copy of a chunk is made) with a `prediction` column (and class
    probabilities), and the values clipped to the training range."""
    table, clipped, _, _ = score_chunk_read(model, table)
    return table, clipped


def score_chunk_read(model: TrainedModel, table: pd.DataFrame, *, levels: TrainingLevels | None = None
                     ) -> tuple[pd.DataFrame, list[OutOfRange], list[Unread], list[Unseen]]:
    """`score_chunk`, and what the model read otherwise than written, said, not silent: the number inputs whose
    text did not read (imputed), and the category inputs with levels outside the training `levels` (None: not
    checked, as for a model version without a monitoring baseline)."""
    hidden = model.protected(table)  # personal columns hashed or masked once, for the model and the level check
    labels, probabilities = model.answer(model.inputs(hidden, protected=True))  # labels and probabilities at once
    frame = model.frame(table)
    clipped = out_of_range(frame, model.features)  # clipped by `inputs`: said, not silent
    unread = unread_numbers(table, frame, model.features, shown=_shown)
    unseen = [] if levels is None else levels.unseen(table, hidden, shown=_shown)
    table["prediction"] = labels
    if probabilities is not None and model.classes:
        for index, column in enumerate(answer_columns(model)[1:]):
            table[column] = probabilities[:, index]
    return table, clipped, unread, unseen


def _shown(text: str) -> str:
    """A column name or value as a warning shows it: personal data masked, at most SHOWN_CHARS characters."""
    return short(redact_text(text), SHOWN_CHARS)


def score_file(model: TrainedModel, path: Path, output: Path | None, *, encoding: str = "utf-8",
               chunk_rows: int = CHUNK_ROWS, progress: Callable[[int], None] | None = None,
               levels: TrainingLevels | None = None) -> Scored:
    """Scores `path` into `output` (CSV on stdout when None) a chunk at a time; `progress(rows_done)` after each."""
    return score_files(model, [path], output, encoding=encoding, chunk_rows=chunk_rows, progress=progress,
                       shown=str(path), levels=levels)


def score_files(model: TrainedModel, paths: Sequence[Path], output: Path | None, *, encoding: str = "utf-8",
                chunk_rows: int = CHUNK_ROWS, progress: Callable[[int], None] | None = None,
                shown: str | None = None, levels: TrainingLevels | None = None) -> Scored:
    """Scores every file of `paths`, one after the other, into the one `output` (CSV on stdout when None)."""
    chunks = (chunk for path in paths for chunk in file_chunks(path, encoding=encoding, chunk_rows=chunk_rows))
    scored = score_chunks(model, chunks, output, progress=progress, levels=levels)
    if scored.rows == 0:
        where = shown or ", ".join(str(path) for path in paths)
        raise DataError.single(f"{where} holds no rows to score.", where="INPUT", expected="at least one row",
                               got="none", fix="pass a file with rows")
    return scored


def score_chunks(model: TrainedModel, chunks: Iterable[pd.DataFrame], output: Path | None, *,
                 progress: Callable[[int], None] | None = None, levels: TrainingLevels | None = None) -> Scored:
    """Scores `chunks` into `output` (CSV on stdout when None), written under a temporary name and renamed when
    whole; no row at all writes no file (`rows` 0 says so)."""
    kind = "csv" if output is None else output_format(output)
    clipped: list[OutOfRange] = []
    missing: dict[str, None] = {}
    replaced: dict[str, None] = {}
    unread: list[Unread] = []
    unseen: list[Unseen] = []
    done = 0
    with _Sink(output, kind) as sink:
        for chunk in chunks:
            if not len(chunk):
                continue
            absent = [f.name for f in model.features if f.name not in chunk.columns]
            if absent and len(absent) == len(model.features):
                raise _no_inputs(model, chunk)
            missing |= dict.fromkeys(absent)
            replaced |= dict.fromkeys(replaced_columns(model, chunk.columns))
            scored, far, lost, new = score_chunk_read(model, chunk, levels=levels)
            sink.write(scored)
            clipped += far
            unread += lost
            unseen += new
            done += len(chunk)
            if progress is not None:
                progress(done)
    return Scored(done, output, kind, merged_out_of_range([clipped]), missing=tuple(missing),
                  unread=merged_unread(unread), unseen=merged_unseen(unseen), replaced=tuple(replaced))


def _no_inputs(model: TrainedModel, chunk: pd.DataFrame) -> DataError:
    """A file with none of the model's inputs would get one imputed answer for every row: a mistake, said as one
    (a file separated by semicolons reads as a single column)."""
    columns = [str(column) for column in chunk.columns]
    separator = next((mark for mark in (";", "\t", "|") if len(columns) == 1 and mark in columns[0]), None)
    fix = (f"the file looks separated by {'tabs' if separator == chr(9) else repr(separator)}: save it with commas "
           f"(or name it .tsv when tab-separated)" if separator else
           "pass a file with the columns the model was trained on (cairn card lists them)")
    return DataError.single(
        f"The input has none of the model's {len(model.features)} inputs.", where="INPUT",
        expected=f"columns such as {name_list([f.name for f in model.features], 5)}",
        got=f"{len(columns)} column{'' if len(columns) == 1 else 's'}: {_shown(name_list(columns, 5))}", fix=fix)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


Finding = TypeVar("Finding", bound=_Named)


def merged(found: Iterable[Finding], added: Callable[[Finding, Finding], Finding]) -> list[Finding]:
    """What chunks or partitions of one scoring found, one summary per input in the order first found: a later
    finding for the same input is `added` to the summary so far."""
    summaries: dict[str, Finding] = {}
    for item in found:
        before = summaries.get(item.name)
        summaries[item.name] = item if before is None else added(before, item)
    return list(summaries.values())


def merged_unread(found: Iterable[Unread]) -> tuple[Unread, ...]:
    """Text that did not read: counts added, the first example kept."""
    return tuple(merged(found, lambda before, item: replace(before, count=before.count + item.count)))


def merged_unseen(found: Iterable[Unseen]) -> tuple[Unseen, ...]:
    """Levels the training split never had: counts added, the first few examples kept."""
    return tuple(merged(found, Unseen.plus))


def merged_out_of_range(parts: Iterable[list[OutOfRange]]) -> list[OutOfRange]:
    """The values clipped in several parts of a scoring: counts added, the furthest kept."""
    return merged((item for part in parts for item in part), _merged)


def rows_in(path: Path | str | Sequence[Path | str]) -> int | None:
    """How many rows a Parquet file (or every file of a folder or glob) holds, from the footers; None for formats
    that do not say without reading, or inputs that cannot be read (said when scoring starts)."""
    try:
        files = input_files(path)
    except DataError:
        return None
    total = 0
    for file in files:
        if file_format(file) != "parquet":
            return None
        import pyarrow.parquet as pq

        try:
            total += int(pq.ParquetFile(file).metadata.num_rows)
        except Exception:  # the reader says what is wrong with the file when scoring starts
            return None
    return total


def input_files(paths: Path | str | Sequence[Path | str], *, where: str = "INPUT") -> list[Path]:
    """The files INPUT names, in order, each once: a file itself, every data file of a folder (not hidden, not
    `_SUCCESS`-like, with a known data suffix) or every file a glob matches, sorted, so parts come in one order
    everywhere. Several INPUTs are what a shell makes of `data/*.parquet`."""
    named = [paths] if isinstance(paths, str | Path) else list(paths)
    if not named:
        raise DataError.single("No input file is named.", where=where, expected="a file, a folder or a glob",
                               got="nothing", fix="name the file(s) to read")
    found: dict[Path, None] = {}
    for path in named:
        found.update(dict.fromkeys(_files_named(path, where=where)))
    return list(found)


def _files_named(path: Path | str, *, where: str) -> list[Path]:
    text = str(path)
    if GLOB_CHARS & set(text):
        matched = sorted(Path(name) for name in glob.glob(text, recursive=True) if Path(name).is_file())
        if not matched:
            raise DataError.single(f"No file matches {text}.", where=where, expected="a glob that finds files",
                                   got="no match", fix="check the folder and the pattern, e.g. data/*.parquet")
        return matched
    folder = Path(path)
    if not folder.is_dir():
        return [folder]  # read by data.source's readers, which say when it does not exist
    found = sorted(file for file in folder.iterdir() if file.is_file() and _is_data_file(file))
    if not found:
        raise DataError.single(f"The folder {folder} holds no data file.", where=where,
                               expected="Parquet, CSV or JSON lines files in it", got="none",
                               fix="pass a folder of data files, or a glob such as data/*.parquet")
    return found


def _is_data_file(file: Path) -> bool:
    if file.name.startswith((".", "_")):  # .partial files, _SUCCESS, _metadata: not data
        return False
    suffixes = [suffix.lower() for suffix in file.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in READERS


def _merged(before: OutOfRange, item: OutOfRange) -> OutOfRange:
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
        self.rows = 0

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
        self.rows += len(scored)
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
        if kind is None and self.rows:
            os.replace(self.temporary, self.output)
        else:  # failed, or no row at all: no file (the caller says why)
            with contextlib.suppress(FileNotFoundError):
                self.temporary.unlink()

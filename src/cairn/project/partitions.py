"""Batch scoring and drift checks partition by partition: on Dask workers, or one after another in this process.

A partition is one data file, or a run of a Parquet file's row groups (about PARTITION_ROWS rows), so a folder of
files and one big Parquet file both spread over the workers. What crosses the network is small: the model (and
the drift baseline) once per worker (`client.scatter(..., broadcast=True)`; when the scheduler's active memory
manager drops a copy near the end and a task moved to that worker fetches it from a peer, once more), the
partition's name to each task, and back only counts, the out-of-range summaries and, for drift, the counts and
bounded samples (cairn.monitoring.streamed `WindowPart`). Never the rows: each worker reads its partition itself
and writes its scored rows itself, so the input and output folders must be ones every worker sees (a shared
filesystem).

Scoring into a folder writes one `part-NNNNN.parquet` per partition that had rows, numbered in input order. The
workers write into a hidden staging folder inside the output (`.partial-*`, which Parquet readers skip); the parts
are moved into place only when every partition is scored, then older `part-*.parquet` files left from an earlier
scoring are removed. A failed scoring leaves the output folder as it was.

Drift of partitions merged equals the drift of one pass over the same rows when every file is Parquet (each
partition knows its first row from the footers, so its random keys, and the rows it predicts on, are those of a
single pass: cairn.monitoring.drift `generator_at`). With CSV or JSON lines files the counts still add up
exactly, but each file draws its own keys, so the domain classifier's sample and the labelled sample (beyond
100,000 labelled rows) are other uniform samples than one pass's.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from cairn.errors import ConfigError, DataError
from cairn.execution.failures import cluster_losses
from cairn.model.inputs import Unread
from cairn.model.ranges import OutOfRange
from cairn.model.trained import TrainedModel
from cairn.monitoring.streamed import STREAMED_CHUNK_ROWS, StreamedWindow, WindowPart, finished_window, window_part
from cairn.monitoring.unseen import TrainingLevels, Unseen
from cairn.project.batch import CHUNK_ROWS, Scored, merged_out_of_range, merged_unread, merged_unseen, score_chunks
from cairn.stages.data.sources import file_chunks, file_format

__all__ = ["PARTITION_ROWS", "Partition", "PartScored", "drift_partition", "is_folder_output", "part_name",
           "partitioned_window", "partitions_of", "score_partition", "score_partitions"]

log = logging.getLogger(__name__)

PARTITION_ROWS = 500_000
"""Rows per partition of a big Parquet file (whole row groups): a few seconds of scoring per task, and twenty tasks
for ten million rows, enough to keep a few workers busy without the scheduler's cost per task showing."""

UNKNOWN_OFFSET_STRIDE = 2**40
"""Where the random keys of a file whose row count is unknown start: file i at i * 2**40 draws, streams far enough
apart never to overlap (no file holds a trillion rows)."""

PART_PREFIX = "part-"
T = TypeVar("T")


@dataclass(frozen=True)
class Partition:
    """One task's share of the input: a file, or some of a Parquet file's row groups."""

    index: int
    path: Path
    row_groups: tuple[int, ...] | None  # None: every row of the file
    rows: int | None  # from the Parquet footer; None for formats that do not say without reading them
    offset: int  # the first row's position in the whole input (or a far stream of keys when rows are unknown)


@dataclass(frozen=True)
class PartScored:
    """What scoring one partition sends back: counts and summaries, never the rows."""

    index: int
    rows: int
    out_of_range: list[OutOfRange]
    missing: tuple[str, ...] = ()  # model inputs the partition had no column for
    unread: tuple[Unread, ...] = ()  # number inputs with text that did not read
    unseen: tuple[Unseen, ...] = ()  # category inputs with levels the training split never had
    replaced: tuple[str, ...] = ()  # input columns the answers' columns replaced


def is_folder_output(output: Path | None) -> bool:
    """`-o scored/`: a folder of Parquet parts, when the name is an existing folder or has no extension."""
    return output is not None and (output.is_dir() or not output.suffix)


def part_name(index: int) -> str:
    return f"{PART_PREFIX}{index:05d}.parquet"


def partitions_of(files: Sequence[Path], *, partition_rows: int = PARTITION_ROWS) -> list[Partition]:
    """The files as partitions, in order: a Parquet file cut into runs of whole row groups of about
    `partition_rows` rows, any other file whole. Offsets are exact while every file before says its rows."""
    partitions: list[Partition] = []
    offset: int | None = 0  # rows before the file, while every file so far said its rows
    for file_index, path in enumerate(Path(file).resolve() for file in files):  # as every worker finds it
        start = offset if offset is not None else file_index * UNKNOWN_OFFSET_STRIDE
        groups = _row_groups(path)
        if groups is None:
            partitions.append(Partition(len(partitions), path, None, None, start))
            offset = None
            continue
        for run, rows in _runs(groups, partition_rows=partition_rows):
            partitions.append(Partition(len(partitions), path, run if len(run) < len(groups) else None, rows,
                                        start))
            start += rows
        offset = start if offset is not None else None
    return partitions


def _row_groups(path: Path) -> list[int] | None:
    """Rows per row group of a Parquet file; None for other formats, or a file whose footer cannot be read (its
    reader says what is wrong when the partition is read)."""
    if file_format(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception:
        return None
    return [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]


def _runs(groups: list[int], *, partition_rows: int) -> Iterator[tuple[tuple[int, ...], int]]:
    """Consecutive row groups gathered up to `partition_rows` rows (a bigger group stays whole); a file with no
    row group is one empty run."""
    run: list[int] = []
    rows = 0
    for group, count in enumerate(groups):
        if run and rows + count > partition_rows:
            yield tuple(run), rows
            run, rows = [], 0
        run.append(group)
        rows += count
    yield tuple(run), rows


def partition_chunks(partition: Partition, *, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The partition's rows a chunk at a time, read with data.source's readers and errors."""
    if partition.row_groups is None:
        yield from file_chunks(partition.path, chunk_rows=chunk_rows)
        return
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(partition.path).iter_batches(batch_size=chunk_rows,
                                                              row_groups=list(partition.row_groups))
        for batch in batches:
            yield batch.to_pandas()
    except (DataError, MemoryError):
        raise
    except Exception as error:
        raise DataError.single(f"The data file {partition.path} cannot be read as PARQUET.", where="INPUT",
                               expected="a readable Parquet file", got=str(error).splitlines()[0][:200],
                               fix="check the file, or re-export it") from None


# scoring ---------------------------------------------------------------------------------------------------------
def score_partition(partition: Partition, *, model: TrainedModel, folder: Path, chunk_rows: int = CHUNK_ROWS,
                    levels: TrainingLevels | None = None) -> PartScored:
    """Runs on a worker: the partition read, scored and written to `folder` a chunk at a time (under a temporary
    name, renamed when whole); no file when it had no rows."""
    scored = score_chunks(model, partition_chunks(partition, chunk_rows=chunk_rows),
                          Path(folder) / part_name(partition.index), levels=levels)
    return PartScored(partition.index, scored.rows, scored.out_of_range, scored.missing, scored.unread,
                      scored.unseen, scored.replaced)


def score_partitions(model: TrainedModel, files: Sequence[Path], output: Path, *, client: Any = None,
                     chunk_rows: int = CHUNK_ROWS, partition_rows: int = PARTITION_ROWS,
                     progress: Callable[[int], None] | None = None, levels: TrainingLevels | None = None) -> Scored:
    """Scores `files` into the folder `output`, one Parquet part per partition, on the Dask `client`'s workers
    (None: in this process, one partition after another). `progress(rows_done)` as partitions finish; `levels`,
    the training levels to check category inputs against (sent once to every worker, beside the model)."""
    output = Path(output).resolve()
    if output.exists() and not output.is_dir():
        raise DataError.single(f"The output {output} is a file, not a folder.", where="--output",
                               expected="a folder for the Parquet parts (or a name ending in .parquet or .csv)",
                               got="an existing file", fix="name a folder, e.g. -o scored/")
    _refuse_output_among_inputs(files, output)
    partitions = partitions_of(files, partition_rows=partition_rows)
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=output))
    try:
        shared: dict[str, Any] = {"model": model} | ({"levels": levels} if levels is not None else {})
        parts = list(_mapped(score_partition, partitions, client=client, shared=shared,
                             options={"folder": staging, "chunk_rows": chunk_rows}, progress=progress,
                             rows_of=lambda part: part.rows))
        rows = sum(part.rows for part in parts)
        if rows == 0:
            raise DataError.single(f"{_shown(files)} holds no rows to score.", where="INPUT",
                                   expected="at least one row", got="none", fix="pass files with rows")
        written = _published(staging, output, [part.index for part in parts if part.rows])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Scored(rows, output, "parquet", merged_out_of_range(part.out_of_range for part in parts), parts=written,
                  missing=tuple(dict.fromkeys(name for part in parts for name in part.missing)),
                  unread=merged_unread(item for part in parts for item in part.unread),
                  unseen=merged_unseen(item for part in parts for item in part.unseen),
                  replaced=tuple(dict.fromkeys(name for part in parts for name in part.replaced)))


def _refuse_output_among_inputs(files: Sequence[Path], output: Path) -> None:
    """Parts written among the inputs would be read as input by the next scoring of the same folder or glob."""
    folder = output.resolve()
    inside = [file for file in files if file.resolve().parent == folder]
    if inside:
        raise DataError.single(f"The output folder {output} holds the input {inside[0].name}.", where="--output",
                               expected="a folder apart from the input files", got=str(output),
                               fix="write to another folder, e.g. -o scored/")


def _published(staging: Path, output: Path, indexes: list[int]) -> int:
    """The staged parts moved into `output` as part-00000, part-00001, ... in input order, then any part left from
    an earlier scoring removed. Every part must be there: a worker that wrote to a disk of its own did not."""
    missing = [part_name(index) for index in indexes if not (staging / part_name(index)).is_file()]
    if missing:
        raise ConfigError.single(
            f"The workers wrote parts this machine cannot see ({len(missing)} of {len(indexes)} missing).",
            where="--output", expected="a folder every Dask worker and this machine share", got=str(output),
            fix="write to a shared filesystem mounted at the same path on every machine")
    names = set()
    for number, index in enumerate(indexes):
        name = part_name(number)
        os.replace(staging / part_name(index), output / name)
        names.add(name)
    for stale in output.glob(f"{PART_PREFIX}*.parquet"):
        if stale.name not in names:
            stale.unlink()
    return len(indexes)


def _shown(files: Sequence[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"


# drift -----------------------------------------------------------------------------------------------------------
def drift_partition(partition: Partition, *, model: Any, baseline: Any, target: str, time_column: str | None,
                    seed: int, total_rows: int | None, chunk_rows: int = STREAMED_CHUNK_ROWS) -> WindowPart:
    """Runs on a worker: the partition's drift counts, labelled rows and time span (cairn.monitoring.streamed)."""
    return window_part(partition_chunks(partition, chunk_rows=chunk_rows), baseline=baseline, model=model,
                       target=target, time_column=time_column, total_rows=total_rows, seed=seed,
                       row_offset=partition.offset)


def partitioned_window(files: Sequence[Path], *, model: Any, baseline: Any, target: str, time_column: str | None,
                       seed: int, where: str, client: Any = None, partition_rows: int = PARTITION_ROWS,
                       chunk_rows: int = STREAMED_CHUNK_ROWS) -> StreamedWindow:
    """Drift, the labelled sample and the time span of `files`, counted partition by partition on the Dask
    `client`'s workers (None: in this process) and merged here in input order."""
    partitions = partitions_of(files, partition_rows=partition_rows)
    known = [partition.rows for partition in partitions]
    total_rows = sum(rows for rows in known if rows is not None) if None not in known else None
    parts = _mapped(drift_partition, partitions, client=client, shared={"model": model, "baseline": baseline},
                    options={"target": target, "time_column": time_column, "seed": seed, "total_rows": total_rows,
                             "chunk_rows": chunk_rows})
    return finished_window(parts, baseline=baseline, model=model, seed=seed, where=where)


# running ---------------------------------------------------------------------------------------------------------
def _mapped(function: Callable[..., T], partitions: list[Partition], *, client: Any, shared: dict[str, Any],
            options: dict[str, Any], progress: Callable[[int], None] | None = None,
            rows_of: Callable[[T], int] | None = None) -> Iterator[T]:
    """`function(partition, **shared, **options)` for every partition, the results in partition order, each as
    soon as it and those before it are done (so the caller merges as they come, holding few at a time). On Dask,
    each of `shared` (the model, the baseline) is sent once to every worker, a result is released on the cluster
    once fetched, and a failed task (or a caller that stops early) cancels the others."""
    done = 0
    if client is None:
        for partition in partitions:
            result = function(partition, **shared, **options)
            if progress is not None and rows_of is not None:
                done += rows_of(result)
                progress(done)
            yield result
        return
    from distributed import as_completed

    scattered = {name: client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()}
    futures: list[Any] = client.map(function, partitions, pure=False, **scattered, **options)
    position = {future.key: index for index, future in enumerate(futures)}
    log.info("%d partitions on %d Dask workers", len(partitions), len(client.scheduler_info().get("workers", {})))
    waiting: dict[int, T] = {}
    following = 0
    try:
        with cluster_losses(client.scheduler.address, what="a partition of the data"):
            for future in as_completed(futures, loop=client.loop):
                index = position[future.key]
                waiting[index] = future.result()  # a task's error is raised here, as the worker raised it
                futures[index] = None  # the only reference left here: the cluster lets the result go
                if progress is not None and rows_of is not None:
                    done += rows_of(waiting[index])
                    progress(done)
                del future
                while following in waiting:
                    yield waiting.pop(following)
                    following += 1
    finally:
        client.cancel([future for future in [*futures, *scattered.values()] if future is not None])

"""Larger-than-memory data: DuckDB profiles every column out of core and draws a reproducible sample for pandas.

Only the sample ever becomes a DataFrame. DuckDB runs with two threads, a memory limit and a spill folder of its
own, so a ten-million-row file is summarised in well under the memory pandas would need to hold it.

    with duckdb_connection(base_dir=base_dir) as connection:   # 2 threads, 1 GB, spills to a temp folder
        sample, profile = profile_and_sample(connection, parquet_paths, rows=500_000, seed=42)

Everything arrives here as Parquet: files in place, other formats and SQL results streamed to Parquet chunk by
chunk, DuckDB query results copied to one Parquet file, so a sampled row can be named by (file, row number).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

LARGE_ROWS = 2_000_000
"""A Parquet file or DuckDB result with more rows than this is profiled out of core and sampled."""
DEFAULT_SAMPLE_ROWS = 500_000
"""Rows drawn into pandas when a source is large and data.sample_rows is not set."""
THREADS = 2
MEMORY_LIMIT = "1GB"
TOP_VALUES = 5
EXACT_TOP_DISTINCT = 10_000
"""Text columns with fewer distinct values than this get exact frequencies from one shared histogram scan."""

PANDAS_INDEX_PREFIX = "__index_level_"
ROW_ID_NAMES = ("cairn_file", "file_row_number")
ROW_ID_COLUMNS = ", ".join(ROW_ID_NAMES)

NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")
TIME_TYPES = ("DATE", "TIME", "TIMESTAMP", "INTERVAL")
NESTED_MARKERS = ("[", "STRUCT", "MAP", "UNION")


@dataclass(frozen=True)
class ColumnProfile:
    """One column summarised over every row of the source, not over the sample."""

    name: str
    duckdb_type: str
    rows: int
    missing: int
    distinct_estimate: int  # approx_count_distinct (HyperLogLog): within a few percent, not exact
    minimum: float | str | None = None  # numbers as float; dates and times as ISO text
    maximum: float | str | None = None
    mean: float | None = None  # numbers only
    std: float | None = None  # numbers only, sample standard deviation
    top_values: tuple[tuple[str, int], ...] = ()  # text and booleans: the most frequent values, exact counts

    @property
    def kind(self) -> str:
        return column_kind(self.duckdb_type)

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class LargeProfile:
    """What DuckDB found in the whole source; `sample_rows` of its rows went on to pandas."""

    rows: int
    columns: tuple[ColumnProfile, ...]
    duplicate_rows: int  # rows equal to an earlier row, counted by 64-bit row hash: exact barring a hash collision
    sample_rows: int = 0
    seed: int | None = None

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


def column_kind(duckdb_type: str) -> str:
    """number | time | boolean | nested | text, from a DuckDB type name such as DECIMAL(10,2) or VARCHAR."""
    upper = duckdb_type.upper()
    if any(marker in upper for marker in NESTED_MARKERS):
        return "nested"
    if upper.startswith(NUMBER_TYPES):
        return "number"
    if upper.startswith(TIME_TYPES):
        return "time"
    if upper == "BOOLEAN":
        return "boolean"
    return "text"


# Bandit's B608 (SQL built from strings) is silenced below with nosec, line by line: every query here is built from
# cairn's own view names, parquet_relation() (file paths through sql_text) and column names through quoted(),
# numbers cast with int(); values from data go in as bound parameters. No request or cairn.yaml text is spliced in.
def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def duckdb_connection(*, base_dir: Path, threads: int = THREADS, memory_limit: str = MEMORY_LIMIT) -> Iterator[Any]:
    """An in-memory DuckDB with bounded threads and memory; relative paths in queries resolve against base_dir.

    It spills into a temporary folder of its own, removed on exit, so a crashed run leaves no spill files behind.
    """
    import duckdb

    spill = Path(tempfile.mkdtemp(prefix="cairn-duckdb-"))
    connection = duckdb.connect(":memory:", config={
        "threads": threads, "memory_limit": memory_limit, "temp_directory": str(spill),
        "autoinstall_known_extensions": False,  # nothing is downloaded while reading data
    })
    try:
        run(connection, f"SET file_search_path = {sql_text(str(base_dir))}")
        yield connection
    finally:
        connection.close()
        shutil.rmtree(spill, ignore_errors=True)


def run(connection: Any, query: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of a statement's result: DuckDB refuses new work while a result is left half-fetched."""
    return connection.execute(query, parameters).fetchall()


def first_row(connection: Any, query: str, parameters: list[Any] | None = None) -> tuple[Any, ...]:
    return run(connection, query, parameters)[0]


def relation_columns(connection: Any, relation: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of a table, view or parenthesised query."""
    return [(row[0], row[1]) for row in run(connection, f"DESCRIBE SELECT * FROM {relation}")]  # nosec B608  # relation is cairn's own view or parquet_relation() (paths via sql_text)


def profile_relation(connection: Any, relation: str) -> LargeProfile:
    """Every column summarised in one scan, duplicates in a second, frequent text values in a third (plus two per
    text column with more than EXACT_TOP_DISTINCT values).

    Duplicates are rows minus distinct 64-bit row hashes: one hash per row is cheap to keep, a whole row is not.
    """
    columns = relation_columns(connection, relation)
    expressions = ["count(*)"]
    for name, duckdb_type in columns:
        column, kind = quoted(name), column_kind(duckdb_type)
        expressions.append(f"count({column})")
        expressions.append("NULL" if kind == "nested" else f"approx_count_distinct({column})")
        if kind == "number":
            expressions += [f"min({column})::DOUBLE", f"max({column})::DOUBLE", f"avg({column}::DOUBLE)",
                            f"stddev_samp({column}::DOUBLE)"]
        elif kind == "time":
            expressions += [f"min({column})::VARCHAR", f"max({column})::VARCHAR", "NULL", "NULL"]
        else:
            expressions += ["NULL", "NULL", "NULL", "NULL"]
    values = first_row(connection, f"SELECT {', '.join(expressions)} FROM {relation}")  # nosec B608  # names via quoted(), relation cairn's own
    row_hash = f"hash({', '.join(quoted(name) for name, _ in columns)})"
    # its own scan: beside ~300 other aggregates, the distinct hash table ran DuckDB out of its memory limit
    distinct_rows = first_row(connection, f"SELECT count(DISTINCT {row_hash}) FROM {relation}")[0]  # nosec B608  # row_hash from quoted() names, relation cairn's own
    rows, distinct_rows = int(values[0]), int(distinct_rows)
    profiles = []
    for position, (name, duckdb_type) in enumerate(columns):
        present, distinct, low, high, mean, std = values[1 + 6 * position: 7 + 6 * position]
        profiles.append(ColumnProfile(
            name=name, duckdb_type=duckdb_type, rows=rows, missing=rows - int(present),
            distinct_estimate=int(distinct or 0), minimum=low, maximum=high,
            mean=None if mean is None else float(mean), std=None if std is None else float(std),
        ))
    profiles = _with_top_values(connection, relation, profiles)
    return LargeProfile(rows=rows, columns=tuple(profiles), duplicate_rows=rows - distinct_rows)


def _with_top_values(connection: Any, relation: str, profiles: list[ColumnProfile]) -> list[ColumnProfile]:
    """Exact top values: one histogram scan for all low-cardinality columns, approx_top_k then counts for others."""
    wanted = [p for p in profiles if p.kind in {"text", "boolean"} and p.missing < p.rows]
    small = [p for p in wanted if p.distinct_estimate < EXACT_TOP_DISTINCT]
    top: dict[str, tuple[tuple[str, int], ...]] = {}
    if small:
        histograms = first_row(
            connection, "SELECT " + ", ".join(f"histogram({quoted(p.name)})" for p in small) + f" FROM {relation}")
        for profile, histogram in zip(small, histograms, strict=True):
            counts = sorted(((str(value), int(count)) for value, count in (histogram or {}).items()),
                            key=lambda item: (-item[1], item[0]))
            top[profile.name] = tuple(counts[:TOP_VALUES])
    for profile in wanted:
        if profile.name in top:
            continue
        column = quoted(profile.name)
        candidates = first_row(connection, f"SELECT approx_top_k({column}, {TOP_VALUES}) FROM {relation}")[0]  # nosec B608  # column via quoted(), TOP_VALUES a constant, relation cairn's own
        counted = run(connection, f"SELECT {column}::VARCHAR, count(*) FROM {relation} WHERE {column} IN "  # nosec B608  # column via quoted(), values bound as a parameter
                                  f"(SELECT unnest(?)) GROUP BY ALL", [list(candidates or [])])
        top[profile.name] = tuple(sorted(((str(v), int(c)) for v, c in counted), key=lambda i: (-i[1], i[0])))
    return [replace(p, top_values=top[p.name]) if p.name in top else p for p in profiles]


def parquet_view(connection: Any, paths: Sequence[Path], *, name: str = "cairn_source") -> str:
    """A temporary view over Parquet files, without the index columns pandas may have stored in them."""
    run(connection,
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *{_without_index(paths)} FROM {parquet_relation(paths)}")  # nosec B608  # name a constant, paths via sql_text, index names via quoted()
    return name


def sample_parquet(connection: Any, paths: Sequence[Path], *, rows: int, seed: int) -> pd.DataFrame:
    """`rows` rows drawn by seeded reservoir sampling, in the order they have in the files.

    The reservoir holds only (file, row number): DuckDB repeats a seeded sample on one thread only, and one
    thread sampling two narrow columns is quick and small, where sampling whole rows would hold them all in the
    reservoir. The rows themselves are then fetched by a semi join on two threads and put back in file order.
    """
    relation = parquet_relation(paths, row_ids=True)
    threads = first_row(connection, "SELECT current_setting('threads')")[0]
    run(connection, "SET threads = 1")
    try:
        run(connection,
            f"CREATE OR REPLACE TEMP TABLE cairn_sample_ids AS SELECT {ROW_ID_COLUMNS} FROM {relation} "  # nosec B608  # relation from parquet_relation(), rows and seed cast to int
            f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed) % 2**31})"
        )
    finally:
        run(connection, f"SET threads = {int(threads)}")
    table = _arrow(connection, f"SELECT *{_without_index(paths)} FROM {relation} "  # nosec B608  # relation from parquet_relation(), names via quoted()
                               f"SEMI JOIN cairn_sample_ids USING ({ROW_ID_COLUMNS})")
    run(connection, "DROP TABLE cairn_sample_ids")
    return _to_pandas(_in_file_order(table))


def read_all(connection: Any, relation: str) -> pd.DataFrame:
    """Every row of a relation small enough for pandas, through Arrow (DuckDB's own .df() costs several times more)."""
    return _to_pandas(_arrow(connection, f"SELECT * FROM {relation}"))  # nosec B608  # relation is cairn's own view or parquet_relation() (paths via sql_text)


def profile_and_sample(connection: Any, paths: Sequence[Path], *, rows: int,
                       seed: int) -> tuple[pd.DataFrame, LargeProfile]:
    """The sample for training and the profile of every row it was drawn from."""
    view = parquet_view(connection, paths)
    profile = profile_relation(connection, view)
    if profile.rows <= rows:
        sample = read_all(connection, view)
    else:
        sample = sample_parquet(connection, paths, rows=rows, seed=seed)
    log.info("profiled %s rows out of core, sampled %s (seed %s)", f"{profile.rows:,}", f"{len(sample):,}", seed)
    return sample, replace(profile, sample_rows=len(sample), seed=seed)


def _arrow(connection: Any, query: str) -> Any:
    relation = connection.sql(query)
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


def _in_file_order(table: Any) -> Any:
    """Sorted by (file, row number), one column at a time so that only one extra column is held at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in ROW_ID_NAMES])
    names = [name for name in table.column_names if name not in ROW_ID_NAMES]
    columns = [table.column(name) for name in names]
    del table
    for position in range(len(columns)):
        columns[position] = columns[position].take(order)
    return pa.table(columns, names=names)


def _to_pandas(table: Any) -> pd.DataFrame:
    """Text columns become categories, as a Parquet file read in memory gives them (sources.read_parquet_compact):
    codes and one copy of each distinct value, not one string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for position, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(position, field.name, pc.dictionary_encode(table.column(position)))
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps what it freed unless told otherwise
    return frame


def _without_index(paths: Sequence[Path]) -> str:
    """An EXCLUDE clause for the index columns pandas may have stored, which pd.read_parquet would not show."""
    import pyarrow.parquet as pq

    hidden = sorted({c for path in paths for c in pq.read_schema(path).names if c.startswith(PANDAS_INDEX_PREFIX)})
    return f" EXCLUDE ({', '.join(quoted(c) for c in hidden)})" if hidden else ""


def result_fingerprint(connection: Any, relation: str) -> str:
    """sha256 of the schema, row count and two order-free sums of 64-bit row hashes.

    Order-free because DuckDB may return the rows of a query in any order on several threads; the same rows
    give the same fingerprint, one changed value gives a new one.
    """
    columns = relation_columns(connection, relation)
    row_hash = f"hash({', '.join(quoted(name) for name, _ in columns)})"
    count, total, folded = first_row(
        connection, f"SELECT count(*), sum({row_hash}::HUGEINT), bit_xor({row_hash}) FROM {relation}")  # nosec B608  # row_hash from quoted() names, relation cairn's own
    digest = hashlib.sha256(repr(columns).encode())
    digest.update(f"|{count}|{total}|{folded}".encode())
    return digest.hexdigest()


def parquet_relation(paths: Sequence[Path], *, row_ids: bool = False) -> str:
    """A DuckDB table expression over Parquet files whose columns may come in any order or with widened types."""
    listed = ", ".join(sql_text(str(path)) for path in paths)
    extra = f", filename = '{ROW_ID_NAMES[0]}', file_row_number = true" if row_ids else ""
    return f"read_parquet([{listed}], union_by_name = true{extra})"


__all__ = ["DEFAULT_SAMPLE_ROWS", "LARGE_ROWS", "ColumnProfile", "LargeProfile", "column_kind", "duckdb_connection",
           "parquet_relation", "parquet_view", "profile_and_sample", "profile_relation", "read_all",
           "relation_columns", "result_fingerprint", "run", "sample_parquet"]

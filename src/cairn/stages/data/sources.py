"""Reading what data.source names: files, globs, SQL and DuckDB queries, each fingerprinted, errors naming the source.

    data.source                          read by                   fingerprint (sha256)
    data/ames.csv.gz                     pandas                    the file's bytes, streamed
    [data/2019/*.csv, data/2020.csv]     pandas, concatenated      sorted (name, sha256) of every file
    {sql: ..., url_env: DB_URL}          SQLAlchemy + pandas       the result's row hashes and schema
    {duckdb: "select ... from 'x/*.parquet'"}   DuckDB             the result's row hashes and schema, order-free

A source with data.sample_rows set, or Parquet / DuckDB with more than LARGE_ROWS rows, never becomes one
DataFrame: DuckDB profiles it out of core and hands pandas a reproducible sample (see `large.py`). Credentials
live in the environment; every message shows the URL through `redacted()`.
"""

from __future__ import annotations

import codecs
import difflib
import glob
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.errors import DatabaseError, EmptyDataError

from cairn.config.schema import Data, DuckDBSource, SqlSource
from cairn.errors import DataError
from cairn.hashing import sha256_file
from cairn.stages.data.large import (
    DEFAULT_SAMPLE_ROWS,
    LARGE_ROWS,
    PANDAS_INDEX_PREFIX,
    LargeProfile,
    duckdb_connection,
    parquet_view,
    profile_and_sample,
    read_all,
    result_fingerprint,
    run,
    sql_text,
)
from cairn.urls import engine_url, redacted

log = logging.getLogger(__name__)

READERS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel", ".xlsm": "excel",
           ".xls": "excel"}
COMPRESSIONS = {".gz", ".bz2", ".zip", ".xz", ".zst"}
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "json": "JSON", "jsonl": "JSON lines",
                "excel": "Excel"}
CHUNK_ROWS = 200_000
"""Rows per chunk when a text file or a query result is streamed to Parquet for DuckDB."""
CONNECT_TIMEOUT_S = 10
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class SourceRead:
    """What data.source held, as training will see it, and how to tell whether it changed."""

    table: pd.DataFrame  # the whole source, or a DuckDB sample of it (data.sample_rows)
    fingerprint: str  # sha256 of the file bytes (several files: of their sorted names + hashes), or of the result
    description: str  # what was read, never with credentials
    total_rows: int  # rows in the source; more than len(table) when sampled
    profile: LargeProfile | None = None  # set when DuckDB profiled the source out of core

    @property
    def sampled(self) -> bool:
        return self.total_rows > len(self.table)


@dataclass(frozen=True)
class DataFile:
    path: Path
    shown: str  # as the user would write it: relative to the project folder when inside it
    kind: str  # a key of FORMAT_NAMES

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES[self.kind]


def read_source(spec: Data, *, base_dir: Path, seed: int = 42, sample: bool = True) -> SourceRead:
    """Read data.source. `seed` fixes the sample; `sample=False` reads everything (e.g. a file to score)."""
    _check_encoding(spec.encoding)
    source = spec.source
    if isinstance(source, SqlSource):
        return _read_sql(source, spec, base_dir=base_dir, seed=seed, sample=sample)
    if isinstance(source, DuckDBSource):
        return _read_duckdb(source, spec, base_dir=base_dir, seed=seed, sample=sample)
    patterns = [source] if isinstance(source, str) else list(source)
    files = resolve_files(patterns, base_dir=base_dir)
    return _read_files(files, spec, base_dir=base_dir, shown=_shown_source(source), seed=seed, sample=sample)


def source_columns(spec: Data, *, base_dir: Path) -> list[Any] | None:
    """The columns of a file source, from its first file with a row, with the readers and errors of `cairn run`
    (a missing file is named, a source without a row is an error); None for a database, which a check of the
    project file does not query (a SQL source's URL is checked: set, from its environment variable, parsed,
    and its driver installed)."""
    if isinstance(spec.source, SqlSource):
        sql_engine(*database_url(spec.source, base_dir=base_dir)).dispose()
    if isinstance(spec.source, SqlSource | DuckDBSource):
        return None
    _check_encoding(spec.encoding)
    patterns = [spec.source] if isinstance(spec.source, str) else list(spec.source)
    files = resolve_files(patterns, base_dir=base_dir)
    for file in files:  # the run refuses an empty file among others too
        if file.path.stat().st_size == 0:
            raise _no_rows(file.shown)
    columns = None
    for file in files:  # until one has a row: the run stops on a source of headers alone
        if file.kind == "parquet":
            columns = columns or _parquet_columns(file)
            rows = _parquet_rows(file)
        else:
            head = next(_chunks(file, encoding=spec.encoding, chunk_rows=100), None)  # JSON lines: keys of 100
            columns = columns or (None if head is None else list(head.columns))
            rows = 0 if head is None else len(head)
        if rows:
            return columns
    raise _no_rows(files[0].shown if len(files) == 1 else _shown_source(spec.source))


# files ---------------------------------------------------------------------------------------------------------
def file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return READERS.get(suffixes[-1] if suffixes else "", "csv")


def resolve_files(patterns: list[str], *, base_dir: Path) -> list[DataFile]:
    """Every file named or matched, once each, in sorted order; a name or glob that finds nothing is an error."""
    if not patterns:
        raise DataError.single("data.source lists no files.", where="data.source", expected="at least one file",
                               got="an empty list", fix="name a file or a glob such as data/*.csv")
    found: dict[Path, None] = {}
    for pattern in patterns:
        target = base_dir / pattern
        if GLOB_CHARS & set(pattern):
            matches = [Path(m) for m in glob.glob(str(target), recursive=True) if Path(m).is_file()]
            if not matches:
                raise _no_match(pattern, target)
            found.update(dict.fromkeys(matches))
        elif target.is_file():
            found[target] = None
        else:
            raise _missing_file(pattern, target)
    return [DataFile(path, _shown_path(path, base_dir), file_format(path)) for path in sorted(found)]


def _missing_file(shown: str, path: Path) -> DataError:
    if path.is_dir():
        return DataError.single(
            f"The data source {shown} is a folder.", where="data.source", expected="a file or a glob",
            got=str(path), fix=f"name the files, e.g. {shown.rstrip('/')}/*.csv",
        )
    nearby = sorted(p.name for p in path.parent.glob("*")) if path.parent.is_dir() else []
    guess = difflib.get_close_matches(path.name, nearby, n=1)
    return DataError.single(
        f"The data file {shown} does not exist.", where="data.source", expected="an existing file",
        got=str(path), fix=f"did you mean '{guess[0]}'?" if guess else "check the path (relative to cairn.yaml)",
    )


def _no_match(pattern: str, target: Path) -> DataError:
    folder = target.parent
    while GLOB_CHARS & set(str(folder)) and folder != folder.parent:
        folder = folder.parent
    nearby = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    guess = difflib.get_close_matches(target.name, nearby, n=1, cutoff=0.4)
    if guess:
        fix = f"did you mean '{guess[0]}'?"
    elif nearby:
        fix = f"check the pattern; {folder} holds {_listed(nearby)}"
    else:
        fix = f"check the pattern (relative to cairn.yaml); {folder} " + ("is empty" if folder.is_dir()
                                                                          else "does not exist")
    return DataError.single(
        f"No file matches {pattern}.", where="data.source", expected="a glob matching at least one file",
        got=f"no match in {folder}", fix=fix,
    )


def _read_files(files: list[DataFile], spec: Data, *, base_dir: Path, shown: str, seed: int,
                sample: bool) -> SourceRead:
    for file in files:
        if file.path.stat().st_size == 0:
            raise _no_rows(file.shown)
    fingerprint = _files_fingerprint(files)
    parquet_rows = sum(_parquet_rows(file) for file in files if file.kind == "parquet")
    if sample and (spec.sample_rows is not None or parquet_rows > LARGE_ROWS):
        return _read_files_out_of_core(files, spec, base_dir=base_dir, shown=shown, seed=seed,
                                       fingerprint=fingerprint)
    first: tuple[DataFile, list[str]] | None = None
    tables = []
    for file in files:
        table = _read_file(file, encoding=spec.encoding)
        first = first or (file, list(table.columns))
        _check_same_columns(first, file, list(table.columns))
        tables.append(table)
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    if table.empty:
        raise _no_rows(shown)
    return SourceRead(compact_text(table), fingerprint, shown, total_rows=len(table))


def compact_text(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categories, whatever the format: as a Parquet file or a DuckDB sample gives them. Columns of
    mixed Python objects stay as they are (1 and '1' must not become one category)."""
    text = [position for position, dtype in enumerate(table.dtypes) if pd.api.types.is_string_dtype(dtype)
            and not isinstance(dtype, pd.CategoricalDtype) and not pd.api.types.is_object_dtype(dtype)]
    if not text:
        return table
    compact = table.copy(deep=False)
    # one assignment for all of them: a column at a time, 1,000 text columns among 5,000 took a second
    compact.isetitem(text, pd.concat([table.iloc[:, position].astype("category") for position in text], axis=1))
    return compact


def _read_file(file: DataFile, *, encoding: str) -> pd.DataFrame:
    try:
        if file.kind in {"csv", "tsv"}:
            return pd.read_csv(file.path, sep="\t" if file.kind == "tsv" else ",", encoding=encoding,
                               low_memory=False)
        if file.kind == "parquet":
            return read_parquet_compact(file.path)
        if file.kind == "excel":
            return pd.read_excel(file.path)
        if file.kind == "json":
            try:
                return pd.read_json(file.path, encoding=encoding)
            except ValueError:  # a .json file holding one object per line
                return pd.read_json(file.path, lines=True, encoding=encoding)
        return pd.read_json(file.path, lines=True, encoding=encoding)
    except EmptyDataError:
        raise _no_rows(file.shown) from None
    except MemoryError:
        raise
    except Exception as error:  # any parser failure on a user's file is a fact about the file
        raise _unreadable(file, error, encoding=encoding) from None


def read_parquet_compact(path: Path) -> pd.DataFrame:
    """A Parquet file with its text columns as categories, read from Parquet's own dictionaries: a million rows of
    forty text columns take tens of MB as codes, against most of a GB as strings, and every later stage (quality
    checks, cleaning, duplicates) works on the codes instead of hashing strings again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = [field.name for field in pq.read_schema(path)
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]
    table = pq.read_table(path, read_dictionary=text).to_pandas(split_blocks=True, self_destruct=True)
    pa.default_memory_pool().release_unused()  # the reading's scratch space: ~300 MB a million rows, else kept
    return table


def file_chunks(path: Path, *, encoding: str = "utf-8", chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """A file given on the command line a chunk at a time (Parquet a record batch at a time), with data.source's
    readers and errors: what `cairn predict` scores without holding the whole file."""
    path = Path(path).resolve()
    if not path.is_file():
        raise _missing_file(str(path), path)
    yield from _chunks(DataFile(path, str(path), file_format(path)), encoding=encoding, chunk_rows=chunk_rows)


def _chunks(file: DataFile, *, encoding: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file in chunks of `chunk_rows` rows where the format streams (CSV, TSV, JSON lines, Parquet), else
    whole."""
    try:
        if file.kind in {"csv", "tsv"}:
            with pd.read_csv(file.path, sep="\t" if file.kind == "tsv" else ",", encoding=encoding,
                             chunksize=chunk_rows, low_memory=False) as reader:
                yield from reader
        elif file.kind == "jsonl":
            with pd.read_json(file.path, lines=True, encoding=encoding, chunksize=chunk_rows) as reader:
                yield from reader
        elif file.kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(file.path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        else:
            yield _read_file(file, encoding=encoding)
    except EmptyDataError:
        raise _no_rows(file.shown) from None
    except (DataError, MemoryError):
        raise
    except Exception as error:
        raise _unreadable(file, error, encoding=encoding) from None


def _read_files_out_of_core(files: list[DataFile], spec: Data, *, base_dir: Path, shown: str, seed: int,
                            fingerprint: str) -> SourceRead:
    """Parquet files are read by DuckDB in place; other formats are streamed to Parquet first, chunk by chunk."""
    with tempfile.TemporaryDirectory(prefix="cairn-chunks-") as folder:
        parquet: list[Path] = []
        first: tuple[DataFile, list[str]] | None = None
        for index, file in enumerate(files):
            if file.kind == "parquet":
                columns = _parquet_columns(file)
                parquet.append(file.path)
            else:
                columns = None
                for part, chunk in enumerate(_chunks(file, encoding=spec.encoding)):
                    columns = columns if columns is not None else [str(c) for c in chunk.columns]
                    target = Path(folder) / f"{index:05d}-{part:06d}.parquet"
                    chunk.to_parquet(target, index=False)
                    parquet.append(target)
                if columns is None:
                    raise _no_rows(file.shown)
            first = first or (file, columns)
            _check_same_columns(first, file, columns)
        table, profile = _sample_parquet(parquet, base_dir=base_dir, rows=spec.sample_rows, seed=seed,
                                         shown=shown)
    return SourceRead(table, fingerprint, _sampled_description(shown, profile), total_rows=profile.rows,
                      profile=profile)


def _sample_parquet(paths: list[Path], *, base_dir: Path, rows: int | None, seed: int,
                    shown: str) -> tuple[pd.DataFrame, LargeProfile]:
    with duckdb_connection(base_dir=base_dir) as connection, _duckdb_failures(shown):
        table, profile = profile_and_sample(connection, paths, rows=rows or DEFAULT_SAMPLE_ROWS, seed=seed)
    if profile.rows == 0:
        raise _no_rows(shown)
    return table, profile


@contextmanager
def _duckdb_failures(shown: str) -> Iterator[None]:
    """DuckDB's errors while profiling or sampling, as the user's to fix: memory first, then the files."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException as error:
        raise DataError.single(
            f"DuckDB ran out of memory reading {shown}.", where="data.sample_rows",
            expected="a sample that fits in memory", got=_first_lines(str(error)), fix="lower data.sample_rows",
        ) from None
    except duckdb.Error as error:
        raise DataError.single(
            f"The data source {shown} cannot be read by DuckDB.", where="data.source",
            expected="Parquet files DuckDB can scan", got=_first_lines(str(error)),
            fix="check the files are whole and share compatible column types",
        ) from None


def _parquet_rows(file: DataFile) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(file.path).num_rows)
    except Exception as error:
        raise _unreadable(file, error, encoding="") from None


def _parquet_columns(file: DataFile) -> list[str]:
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(file.path).names)
    except Exception as error:
        raise _unreadable(file, error, encoding="") from None
    return [name for name in names if not name.startswith(PANDAS_INDEX_PREFIX)]


def _check_same_columns(first: tuple[DataFile, list[str]], file: DataFile, columns: list[str]) -> None:
    reference, expected = first
    if file is reference or set(columns) == set(expected):
        return
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    differences = []
    if missing:
        differences.append(f"lacks {_listed(missing)}")
    if extra:
        differences.append(f"adds {_listed(extra)}")
    raise DataError.single(
        f"The data file {file.shown} does not have the columns of {reference.shown}.", where="data.source",
        expected=f"the same {len(expected)} columns in every file", got=f"{file.shown} {' and '.join(differences)}",
        fix="give every file the same columns, or list in data.source only the files that share them",
    )


def _files_fingerprint(files: list[DataFile]) -> str:
    """One file: the sha256 of its bytes. Several: of their sorted names and hashes, so a rename is a change."""
    if len(files) == 1:
        return sha256_file(files[0].path)
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.shown):
        digest.update(f"{file.shown}\t{sha256_file(file.path)}\n".encode())
    return digest.hexdigest()


# SQL -----------------------------------------------------------------------------------------------------------
def database_url(source: SqlSource, *, base_dir: Path) -> tuple[Any, str]:
    """(SQLAlchemy URL with the driver cairn installs, the URL to show). A relative SQLite path is under base_dir."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = source.url
    if source.url_env:
        raw = os.environ.get(source.url_env)
        if not raw:
            raise DataError.single(
                f"The database URL is not set: the environment variable {source.url_env} is empty.",
                where="data.source.url_env",
                expected=f"the environment variable {source.url_env} to hold a SQLAlchemy URL", got="unset",
                fix=f"export {source.url_env}=postgresql://user:password@host:5432/db",
            )
    assert raw is not None
    shown = redacted(raw)
    scheme, _, rest = raw.partition("://")
    if scheme in {"mysql", "mariadb"}:
        raw = f"mysql+pymysql://{rest}"
    try:
        url = make_url(engine_url(raw))
    except ArgumentError:
        raise DataError.single(
            "The database URL cannot be parsed.", where="data.source",
            expected="a SQLAlchemy URL such as postgresql://user@host:5432/db", got=shown,
            fix="check the URL's scheme, host and port",
        ) from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        path = Path(url.database)
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise _missing_file(url.database, path)
        url = url.set(database=str(path))
    return url, shown


DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres", "pymysql": "mysql"}  # driver module -> extra


def _driver_fix(backend: str, module: str | None) -> str:
    """The extra cairn ships for a missing driver module, or that module itself for any other driver."""
    if module in DRIVER_EXTRAS:
        return f"pip install 'cairn[{DRIVER_EXTRAS[module]}]'"
    return f"install the SQLAlchemy driver for {backend} (the Python module {module or 'it names'})"


def sql_engine(url: Any, shown: str) -> Any:
    """The engine of a database URL, its driver imported (no connection yet): a missing driver is a user error
    naming what to install."""
    from sqlalchemy import create_engine

    try:
        return create_engine(url, connect_args=_connect_args(url))
    except ModuleNotFoundError as error:
        raise DataError.single(
            "The database driver is not installed.", where="data.source", expected=f"the driver for {shown}",
            got=f"no module {error.name}", fix=_driver_fix(url.get_backend_name(), error.name),
        ) from None


def _read_sql(source: SqlSource, spec: Data, *, base_dir: Path, seed: int, sample: bool) -> SourceRead:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    url, shown = database_url(source, base_dir=base_dir)
    engine = sql_engine(url, shown)
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as error:
            raise _unreachable(url, shown, error) from None
        with connection:
            if sample and spec.sample_rows is not None:
                return _read_sql_out_of_core(connection, text(source.sql), spec, base_dir=base_dir, seed=seed,
                                             shown=shown, url=url)
            try:
                table = pd.read_sql_query(text(source.sql), connection)
            except (SQLAlchemyError, DatabaseError) as error:
                raise _query_failed(url, shown, error) from None
    finally:
        engine.dispose()
    if table.empty:
        raise _no_query_rows(shown)
    digest = hashlib.sha256(_row_hashes(table))
    digest.update(repr(list(zip(table.columns, map(str, table.dtypes), strict=True))).encode())
    return SourceRead(table, digest.hexdigest(), f"query on {shown}", total_rows=len(table))


def _row_hashes(table: pd.DataFrame) -> bytes:
    """pandas' 64-bit hash of each row; values pandas cannot hash (JSON columns arrive as dicts) by their text."""
    try:
        return pd.util.hash_pandas_object(table, index=False).values.tobytes()
    except TypeError:
        as_text = table.astype({c: str for c in table.columns if table[c].dtype == object})
        return pd.util.hash_pandas_object(as_text, index=False).values.tobytes()


def _read_sql_out_of_core(connection: Any, query: Any, spec: Data, *, base_dir: Path, seed: int, shown: str,
                          url: Any) -> SourceRead:
    """Stream the result to Parquet in chunks, hashing each, then profile and sample it with DuckDB."""
    from sqlalchemy.exc import SQLAlchemyError

    digest = hashlib.sha256()
    schema: list[tuple[str, str]] | None = None
    with tempfile.TemporaryDirectory(prefix="cairn-query-") as folder:
        paths: list[Path] = []
        try:
            streaming = connection.execution_options(stream_results=True)
            for part, chunk in enumerate(pd.read_sql_query(query, streaming, chunksize=CHUNK_ROWS)):
                if chunk.empty:
                    continue
                digest.update(_row_hashes(chunk))
                schema = schema or list(zip(chunk.columns, map(str, chunk.dtypes), strict=True))
                paths.append(Path(folder) / f"{part:06d}.parquet")
                chunk.to_parquet(paths[-1], index=False)
        except (SQLAlchemyError, DatabaseError) as error:
            raise _query_failed(url, shown, error) from None
        if not paths:
            raise _no_query_rows(shown)
        digest.update(repr(schema).encode())
        table, profile = _sample_parquet(paths, base_dir=base_dir, rows=spec.sample_rows, seed=seed,
                                         shown=f"query on {shown}")
    return SourceRead(table, digest.hexdigest(), _sampled_description(f"query on {shown}", profile),
                      total_rows=profile.rows, profile=profile)


def _connect_args(url: Any) -> dict[str, Any]:
    """A dead host fails in seconds instead of the driver's default minutes."""
    backend = url.get_backend_name()
    if backend in {"postgresql", "mysql", "mariadb"}:
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def _unreachable(url: Any, shown: str, error: Exception) -> DataError:
    backend = url.get_backend_name()
    if backend == "sqlite":
        where, expected = url.database, "a SQLite file cairn can open"
    else:
        where = f"{url.host or 'localhost'}:{url.port or DEFAULT_PORTS.get(backend, '?')}"
        expected = f"a {backend} server accepting connections at {where}"
    return DataError.single(
        f"Cannot connect to the database at {where}.", where="data.source", expected=expected,
        got=_scrubbed(_driver_message(error), url),
        fix=f"check that the database runs and that host, port, user and database in {shown} are right",
    )


def _query_failed(url: Any, shown: str, error: Exception) -> DataError:
    return DataError.single(
        f"The query on {shown} failed.", where="data.source.sql", expected="a query the database runs",
        got=_scrubbed(_driver_message(error), url), fix="run the query in a SQL client to check it",
    )


def _driver_message(error: Exception) -> str:
    """The DBAPI error's text: pandas wraps SQLAlchemy's error, which wraps the driver's."""
    while isinstance(error, DatabaseError) and error.__cause__ is not None:
        error = error.__cause__  # type: ignore[assignment]
    return _first_lines(str(getattr(error, "orig", None) or error))


def _scrubbed(message: str, url: Any) -> str:
    """The database's own words, minus the password should a driver ever echo it."""
    from urllib.parse import quote, quote_plus

    password = url.password
    if password:
        for form in {password, quote(password, safe=""), quote_plus(password)}:
            message = message.replace(form, "***")
    return message


def _no_query_rows(shown: str) -> DataError:
    return DataError.single(
        f"The query on {shown} returned no rows.", where="data.source.sql", expected="at least one row",
        got="0 rows", fix="check the query's WHERE clause and that the table holds data",
    )


# DuckDB --------------------------------------------------------------------------------------------------------
def _read_duckdb(source: DuckDBSource, spec: Data, *, base_dir: Path, seed: int, sample: bool) -> SourceRead:
    """Run the query once into a Parquet file, so that profile, sample and fingerprint all see the same rows."""
    import duckdb
    import pyarrow.parquet as pq

    query = source.duckdb.strip().rstrip(";").strip()
    shown = f"DuckDB query `{' '.join(query.split())}`"
    with tempfile.TemporaryDirectory(prefix="cairn-duckdb-result-") as folder:
        result = Path(folder) / "result.parquet"
        with duckdb_connection(base_dir=base_dir) as connection:
            try:
                run(connection, f"COPY ({query}) TO {sql_text(str(result))} (FORMAT parquet)")
            except duckdb.Error as error:
                raise DataError.single(
                    "The DuckDB query failed.", where="data.source.duckdb", expected="a query DuckDB runs",
                    got=_first_lines(str(error)),
                    fix=f"paths in the query are relative to {base_dir}; try the query in the duckdb shell there",
                ) from None
            rows = int(pq.read_metadata(result).num_rows)
            if rows == 0:
                raise DataError.single(
                    "The DuckDB query returned no rows.", where="data.source.duckdb", expected="at least one row",
                    got="0 rows", fix="check the query's WHERE clause and the files it reads",
                )
            with _duckdb_failures(shown):
                view = parquet_view(connection, [result])
                fingerprint = result_fingerprint(connection, view)
                if sample and (spec.sample_rows is not None or rows > LARGE_ROWS):
                    table, profile = profile_and_sample(connection, [result],
                                                        rows=spec.sample_rows or DEFAULT_SAMPLE_ROWS, seed=seed)
                    return SourceRead(table, fingerprint, _sampled_description(shown, profile), total_rows=rows,
                                      profile=profile)
                table = read_all(connection, view)
    return SourceRead(table, fingerprint, shown, total_rows=rows)


# messages ------------------------------------------------------------------------------------------------------
def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError.single(
            f"data.encoding '{encoding}' is not a text encoding.", where="data.encoding",
            expected="an encoding name such as utf-8, latin-1 or cp1252", got=encoding,
            fix="write the encoding the files were saved in",
        ) from None


def _unreadable(file: DataFile, error: Exception, *, encoding: str) -> DataError:
    if isinstance(error, UnicodeError):
        return DataError.single(
            f"The data file {file.shown} is not {encoding} text.", where="data.encoding",
            expected=f"text in {encoding}", got=_first_lines(str(error)),
            fix="set data.encoding to the file's encoding, e.g. `encoding: latin-1` (or cp1252, utf-16)",
        )
    if isinstance(error, ImportError):
        return DataError.single(
            f"Reading {file.shown} needs a package that is not installed.", where="data.source",
            expected=f"a reader for {file.format_name} files", got=_first_lines(str(error)),
            fix="pip install openpyxl (Excel .xlsx)",
        )
    return DataError.single(
        f"The data file {file.shown} cannot be read as {file.kind.upper()}.", where="data.source",
        expected=f"a readable {file.format_name} file", got=_first_lines(str(error)) or type(error).__name__,
        fix="check the file's format, compression and permissions, or re-export it",
    )


def _no_rows(shown: str) -> DataError:
    return DataError.single(
        f"The data file {shown} holds no rows.", where="data.source", expected="at least one row of data",
        got="an empty table", fix="point data.source at a file with data",
    )


def _first_lines(text: str, *, limit: int = 400) -> str:
    """A message up to its first blank line, on one line: DuckDB and drivers add a caret diagram after it."""
    lines = []
    for line in text.strip().splitlines():
        if not line.strip() or line.startswith("LINE "):
            break
        lines.append(line.strip())
    joined = " ".join(lines)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def _listed(names: list[str], *, limit: int = 8) -> str:
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown


def _shown_path(path: Path, base_dir: Path) -> str:
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _shown_source(source: str | list[str]) -> str:
    return source if isinstance(source, str) else ", ".join(source)


def _sampled_description(shown: str, profile: LargeProfile) -> str:
    if profile.sample_rows >= profile.rows:
        return f"{shown} (all {profile.rows:,} rows, profiled out of core)"
    return f"{shown} (sample of {profile.sample_rows:,} of {profile.rows:,} rows, seed {profile.seed})"


__all__ = ["DataFile", "SourceRead", "database_url", "file_format", "read_source", "resolve_files"]

"""Reading what data.source names: files and SQL queries, each fingerprinted, errors naming the source."""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.errors import EmptyDataError, ParserError

from cairn.config.schema import Data, SqlSource
from cairn.errors import DataError
from cairn.store.artifacts import sha256_file

log = logging.getLogger(__name__)

READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class SourceRead:
    table: pd.DataFrame
    fingerprint: str  # sha256 of the file's bytes, or of the query result
    description: str  # what was read, without credentials


def read_source(spec: Data, *, base_dir: Path) -> SourceRead:
    if isinstance(spec.source, SqlSource):
        return _read_sql(spec.source)
    return _read_file(base_dir / spec.source, shown=spec.source)


def _file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2", ".zip", ".xz", ".zst"}:
        suffixes = suffixes[:-1]
    return READERS.get(suffixes[-1] if suffixes else "", "csv")


def _read_file(path: Path, *, shown: str) -> SourceRead:
    if not path.exists():
        nearby = sorted(p.name for p in path.parent.glob("*")) if path.parent.is_dir() else []
        guess = difflib.get_close_matches(path.name, nearby, n=1)
        raise DataError.single(
            f"The data file {shown} does not exist.", where="data.source", expected="an existing file",
            got=str(path), fix=f"did you mean '{guess[0]}'?" if guess else "check the path (relative to cairn.yaml)",
        )
    kind = _file_format(path)
    try:
        fingerprint = sha256_file(path)
        if kind in {"csv", "tsv"}:
            table = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", low_memory=False)
        elif kind == "parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_json(path, lines=kind == "jsonl")
    except EmptyDataError:
        table = pd.DataFrame()
    except (OSError, UnicodeDecodeError, ParserError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise DataError.single(
            f"The data file {shown} cannot be read as {kind.upper()}.", where="data.source",
            expected=f"a readable {kind.upper()} file", got=reason,
            fix="check the file's format, encoding (UTF-8) and permissions",
        ) from None
    if table.empty:
        raise DataError.single(
            f"The data file {shown} holds no rows.", where="data.source", expected="at least one row of data",
            got="an empty table", fix="point data.source at a file with data",
        )
    return SourceRead(table, fingerprint, shown)


def _read_sql(source: SqlSource) -> SourceRead:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    from cairn.store.repository import engine_url, redacted

    url = source.url
    if source.url_env:
        url = os.environ.get(source.url_env)
        if not url:
            raise DataError.single(
                "The database URL is not set.", where="data.source.url_env",
                expected=f"the environment variable {source.url_env} to hold a SQLAlchemy URL", got="unset",
                fix=f"export {source.url_env}=postgresql://user:password@host:5432/db",
            )
    assert url is not None
    try:
        engine = create_engine(engine_url(url))
        with engine.connect() as connection:
            table = pd.read_sql_query(text(source.sql), connection)
        engine.dispose()
    except SQLAlchemyError as error:
        message = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
        raise DataError.single(
            f"The query on {redacted(url)} failed.", where="data.source.sql",
            expected="a query the database runs", got=message, fix="run the query in a SQL client to check it",
        ) from None
    if table.empty:
        raise DataError.single(
            "The query returned no rows.", where="data.source.sql", expected="at least one row",
            got="0 rows", fix="check the query's WHERE clause",
        )
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=False).values.tobytes())
    digest.update(repr(list(zip(table.columns, map(str, table.dtypes), strict=True))).encode())
    return SourceRead(table, digest.hexdigest(), f"query on {redacted(url)}")

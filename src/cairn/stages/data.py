"""Stage 2, data collection: read the source, fingerprint it, check it fits the problem, summarise its quality.

Reading and checking happen before a store is opened, so a project whose data is unusable leaves nothing behind.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Finding:
    """One data-quality observation, with how serious it is and where."""

    severity: str  # info | warn | error
    check: str
    columns: list[str]
    count: int
    detail: str


@dataclass(frozen=True)
class DataProfile:
    rows: int
    columns: int
    fingerprint: str
    source: str
    column_types: dict[str, str]  # name -> number | category | boolean | empty
    findings: list[Finding] = field(default_factory=list)

    def notes(self) -> list[str]:
        notes = [f"read {self.rows:,} rows x {self.columns} columns from {self.source}",
                 f"fingerprint {self.fingerprint[:12]}"]
        return notes + [f"{f.severity}: {f.detail}" for f in self.findings if f.severity != "info"]


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


def check_fits_problem(table: pd.DataFrame, *, target: str, problem: str) -> None:
    """Stop early, naming the column, when the data cannot answer the business question."""
    if target not in table.columns:
        guess = difflib.get_close_matches(target, [str(c) for c in table.columns], n=1, cutoff=0.6)
        raise DataError.single(
            f"The target column '{target}' is not in the data.", where="business.target",
            expected=f"one of the {len(table.columns)} columns of the data", got=f"'{target}'",
            fix=f"did you mean '{guess[0]}'?" if guess else "set business.target to a column of the data",
        )
    values = table[target].dropna()
    if values.empty:
        raise DataError.single(
            f"The target column '{target}' has no values.", where=f"column {target}",
            expected="a target with values", got="every row missing", fix="check the data source",
        )
    if problem == "regression" and not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        raise DataError.single(
            f"The target column '{target}' is not numeric, so it cannot be a regression target.",
            where=f"column {target}", expected="numbers", got=f"{numbers.isna().sum():,} non-numeric values "
            f"such as {values[numbers.isna()].iloc[0]!r}", fix="use problem: binary/multiclass or clean the column",
        )
    levels = values.nunique()
    if problem in {"binary", "multiclass"} and levels < 2:
        raise DataError.single(
            f"The target column '{target}' has one class only ({values.iloc[0]!r}).", where=f"column {target}",
            expected="at least two classes", got="1 class", fix="a classifier needs examples of every outcome",
        )
    if problem == "binary" and levels > 2:
        raise DataError.single(
            f"The target column '{target}' has {levels} classes, not two.", where="business.problem",
            expected="binary: exactly two classes", got=f"{levels} classes", fix="use problem: multiclass",
        )


def column_kind(column: pd.Series) -> str:
    if column.isna().all():
        return "empty"
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    return "category"


def profile_table(read: SourceRead, *, target: str) -> DataProfile:
    """A quality summary: missing values, duplicates, constant columns, types."""
    table = read.table
    rows = len(table)
    findings: list[Finding] = []
    missing = table.isna().mean()
    for name, share in missing[missing > 0].sort_values(ascending=False).items():
        severity = "warn" if share > 0.5 else "info"
        findings.append(Finding(severity, "missing values", [str(name)], int(table[name].isna().sum()),
                                f"{name} is missing in {share:.0%} of rows"))
    duplicates = int(table.duplicated().sum())
    if duplicates:
        findings.append(Finding("warn", "duplicate rows", [], duplicates, f"{duplicates:,} rows are exact duplicates"))
    features = table.drop(columns=[target])
    conflicts = int(features.duplicated(keep=False).sum() - table.duplicated(keep=False).sum())
    if conflicts > 0:
        findings.append(Finding("warn", "conflicting duplicates", [], conflicts,
                                f"{conflicts:,} rows share all features with another row but not its target"))
    for name in table.columns:
        distinct = table[name].nunique(dropna=True)
        if distinct <= 1:
            findings.append(Finding("warn", "constant column", [str(name)], rows,
                                    f"{name} has a single value; it carries no information"))
        elif table[name].dtype.kind in "OU" or pd.api.types.is_string_dtype(table[name]):
            top_share = table[name].value_counts(normalize=True, dropna=False).iloc[0]
            if top_share >= 0.99:
                findings.append(Finding("info", "almost constant", [str(name)], int(top_share * rows),
                                        f"{name} takes one value in {top_share:.1%} of rows"))
    target_missing = int(table[target].isna().sum())
    if target_missing:
        findings.append(Finding("warn", "missing target", [target], target_missing,
                                f"{target_missing:,} rows have no target; they are left out of training"))
    kinds = {str(name): column_kind(table[name]) for name in table.columns}
    return DataProfile(rows=rows, columns=len(table.columns), fingerprint=read.fingerprint, source=read.description,
                       column_types=kinds, findings=findings)

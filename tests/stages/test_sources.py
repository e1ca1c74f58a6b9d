"""data.source against the real thing: files of every format, PostgreSQL, MariaDB, SQLite and DuckDB on this machine.

Every table a test makes in a shared database has a unique name and is dropped afterwards.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import shutil
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cairn.config.schema import Data
from cairn.errors import DataError
from cairn.stages.data import SourceRead, read_source

AMES = Path(__file__).parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB = "mysql://root@127.0.0.1:3306/test"


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    """A few hundred Ames sales, with a row id to order query results by."""
    table = pd.read_csv(AMES, nrows=300)
    table.insert(0, "row_id", range(len(table)))
    return table


def read(source, base_dir: Path, **settings) -> SourceRead:
    return read_source(Data(source=source, **settings), base_dir=base_dir)


def error_of(source, base_dir: Path, **settings) -> str:
    with pytest.raises(DataError) as caught:
        read(source, base_dir, **settings)
    return str(caught.value)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# files -----------------------------------------------------------------------------------------------------------
def write_format(table: pd.DataFrame, path: Path) -> None:
    name = path.name
    if name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        table.to_json(path, orient="records", lines=True)
    elif name.endswith(".json"):
        table.to_json(path, orient="records")
    elif name.endswith(".xlsx"):
        table.to_excel(path, index=False)
    elif name.endswith(".tsv"):
        table.to_csv(path, sep="\t", index=False)
    else:
        plain = table.to_csv(index=False).encode()
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(plain))
        elif name.endswith(".bz2"):
            path.write_bytes(bz2.compress(plain))
        elif name.endswith(".xz"):
            path.write_bytes(lzma.compress(plain))
        elif name.endswith(".zip"):
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr(name.removesuffix(".zip"), plain)
        else:
            path.write_bytes(plain)


@pytest.mark.parametrize("name", ["a.csv", "a.txt", "a.tsv", "a.parquet", "a.jsonl", "a.json", "a.xlsx",
                                  "a.csv.gz", "a.csv.bz2", "a.csv.xz", "a.csv.zip"])
def test_every_format_reads_the_same_table(tmp_path, ames, name):
    path = tmp_path / name
    write_format(ames, path)
    result = read(name, tmp_path)
    assert result.table.shape == ames.shape
    assert list(result.table.columns) == list(ames.columns)
    assert result.table["Sale_Price"].tolist() == ames["Sale_Price"].tolist()
    assert result.table["Neighborhood"].tolist() == ames["Neighborhood"].tolist()
    assert result.fingerprint == sha256(path)
    assert result.total_rows == len(ames) and result.profile is None
    assert result.description == name


def test_glob_and_list_concatenate_files_in_sorted_order(tmp_path, ames):
    (tmp_path / "parts").mkdir()
    for part, name in [(1, "b.csv"), (0, "a.csv"), (2, "c.csv")]:
        ames.iloc[part * 100: (part + 1) * 100].to_csv(tmp_path / "parts" / name, index=False)

    by_glob = read("parts/*.csv", tmp_path)
    assert by_glob.table["row_id"].tolist() == list(range(300))
    assert "__source_file__" not in by_glob.table.columns
    names_and_hashes = "".join(f"parts/{n}\t{sha256(tmp_path / 'parts' / n)}\n" for n in ["a.csv", "b.csv", "c.csv"])
    assert by_glob.fingerprint == hashlib.sha256(names_and_hashes.encode()).hexdigest()

    by_list = read(["parts/c.csv", "parts/[ab].csv"], tmp_path)
    assert by_list.table["row_id"].tolist() == list(range(300))
    assert by_list.fingerprint == by_glob.fingerprint

    (tmp_path / "parts" / "c.csv").rename(tmp_path / "parts" / "d.csv")
    assert read("parts/*.csv", tmp_path).fingerprint != by_glob.fingerprint


def test_files_with_other_columns_are_named(tmp_path, ames):
    (tmp_path / "parts").mkdir()
    ames.iloc[:100].to_csv(tmp_path / "parts" / "2019.csv", index=False)
    ames.iloc[100:200].drop(columns=["Lot_Area", "Street"]).assign(Extra=1).to_csv(
        tmp_path / "parts" / "2020.csv", index=False)
    message = error_of("parts/*.csv", tmp_path)
    assert "parts/2020.csv" in message and "parts/2019.csv" in message
    assert "lacks Lot_Area, Street" in message and "adds Extra" in message


def test_a_glob_matching_no_file(tmp_path, ames):
    (tmp_path / "data").mkdir()
    ames.to_csv(tmp_path / "data" / "sales.csv", index=False)
    message = error_of("data/*.parquet", tmp_path)
    assert "No file matches data/*.parquet" in message and "sales.csv" in message


def test_a_missing_file_gets_a_suggestion(tmp_path, ames):
    ames.to_csv(tmp_path / "sales.csv", index=False)
    message = error_of("sale.csv", tmp_path)
    assert "does not exist" in message and "did you mean 'sales.csv'?" in message


def test_wrong_encoding_names_the_file_and_data_encoding(tmp_path):
    (tmp_path / "cafes.csv").write_bytes("name,price\nCafé Crème,3\nBrûlée,4\n".encode("latin-1"))
    message = error_of("cafes.csv", tmp_path)
    assert "cafes.csv" in message and "data.encoding" in message and "latin-1" in message
    assert read("cafes.csv", tmp_path, encoding="latin-1").table["name"].tolist() == ["Café Crème", "Brûlée"]


def test_an_unknown_encoding(tmp_path, ames):
    ames.to_csv(tmp_path / "a.csv", index=False)
    assert "data.encoding 'utf-9' is not a text encoding" in error_of("a.csv", tmp_path, encoding="utf-9")


def test_a_corrupt_parquet_file(tmp_path, ames):
    ames.to_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes((tmp_path / "good.parquet").read_bytes()[:-200])
    message = error_of("bad.parquet", tmp_path)
    assert "The data file bad.parquet cannot be read as PARQUET" in message


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.jsonl"])
def test_an_empty_file_holds_no_rows(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert f"The data file {name} holds no rows" in error_of(name, tmp_path)


def test_a_header_without_rows_holds_no_rows(tmp_path):
    (tmp_path / "header.csv").write_text("a,b\n")
    assert "holds no rows" in error_of("header.csv", tmp_path)


# SQL ---------------------------------------------------------------------------------------------------------------
def table_name() -> str:
    return f"cairn_src_{uuid.uuid4().hex[:10]}"


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://").replace("mysql://", "mysql+pymysql://")


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def database(request, tmp_path, ames):
    """(URL as a user writes it, base dir, table) holding 300 Ames rows; dropped afterwards."""
    if request.param == "sqlite":
        url, engine_url = "sqlite:///sales.db", f"sqlite:///{tmp_path / 'sales.db'}"
    else:
        url = POSTGRES if request.param == "postgresql" else MARIADB
        engine_url = sqlalchemy_url(url)
    name = table_name()
    engine = sa.create_engine(engine_url)
    ames.to_sql(name, engine, index=False)
    try:
        yield url, tmp_path, name, engine
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def test_a_query_reads_the_table_and_fingerprints_its_content(database, ames):
    url, base_dir, name, engine = database
    source = {"sql": f"select * from {name} order by row_id", "url": url}
    first, second = read(source, base_dir), read(source, base_dir)
    assert first.table.shape == ames.shape and first.total_rows == 300
    assert first.table["Sale_Price"].tolist() == ames["Sale_Price"].tolist()
    assert first.table["Neighborhood"].tolist() == ames["Neighborhood"].tolist()
    assert first.description == f"query on {url}"
    assert first.fingerprint == second.fingerprint

    sales = sa.table(name, sa.column("row_id"), sa.column("Sale_Price"))
    with engine.begin() as connection:
        connection.execute(sa.update(sales).where(sales.c.row_id == 7).values(Sale_Price=sales.c.Sale_Price + 1))
    changed = read(source, base_dir)
    assert changed.fingerprint != first.fingerprint
    assert changed.table["Sale_Price"].iloc[7] == ames["Sale_Price"].iloc[7] + 1


def test_a_query_with_sample_rows_streams_through_duckdb(database, ames):
    url, base_dir, name, _ = database
    source = {"sql": f"select * from {name} order by row_id", "url": url}
    sampled = read(source, base_dir, sample_rows=120)
    assert len(sampled.table) == 120 and sampled.total_rows == 300
    assert sampled.profile is not None and sampled.profile.rows == 300
    assert sampled.profile.column("Sale_Price").maximum == ames["Sale_Price"].max()
    assert sampled.table["row_id"].is_monotonic_increasing  # the sample keeps the source's order
    assert sampled.table.equals(read(source, base_dir, sample_rows=120).table)
    # one chunk of one schema: the same bytes are hashed as when the result is read whole
    assert sampled.fingerprint == read(source, base_dir).fingerprint
    assert "sample of 120 of 300 rows, seed 42" in sampled.description


def test_the_url_can_come_from_the_environment(database, monkeypatch, ames):
    url, base_dir, name, _ = database
    monkeypatch.setenv("CAIRN_TEST_DB_URL", url)
    result = read({"sql": f"select count(*) as n from {name}", "url_env": "CAIRN_TEST_DB_URL"}, base_dir)
    assert result.table["n"].tolist() == [300]


def test_a_missing_url_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CAIRN_UNSET_URL", raising=False)
    message = error_of({"sql": "select 1", "url_env": "CAIRN_UNSET_URL"}, tmp_path)
    assert "CAIRN_UNSET_URL" in message and "data.source.url_env" in message


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "mariadb"])
def test_an_unreachable_database_names_host_and_port_never_the_password(tmp_path, monkeypatch, scheme):
    password = f"pw-{uuid.uuid4().hex}"
    url = f"{scheme}://someone:{password}@127.0.0.1:1/test"
    for source in ({"sql": "select 1", "url": url}, {"sql": "select 1", "url_env": "CAIRN_TEST_SECRET_URL"}):
        monkeypatch.setenv("CAIRN_TEST_SECRET_URL", url)
        with pytest.raises(DataError) as caught:
            read(source, tmp_path)
        message = str(caught.value)
        assert "Cannot connect to the database at 127.0.0.1:1" in message
        assert password not in message and password not in repr(caught.value)
        assert "***" in message  # the URL shown, redacted


def test_a_sql_error_shows_the_database_message_without_the_password(tmp_path):
    password = f"pw-{uuid.uuid4().hex}"  # the test server trusts local connections: any password gets in
    url = f"postgresql://postgres:{password}@127.0.0.1:5432/test"
    message = error_of({"sql": "select * from cairn_no_such_table", "url": url}, tmp_path)
    assert 'relation "cairn_no_such_table" does not exist' in message
    assert password not in message
    result = read({"sql": "select 1 as one", "url": url}, tmp_path)
    assert password not in result.description and result.table["one"].tolist() == [1]


@pytest.mark.parametrize("url, words", [(MARIADB, "doesn't exist"), ("sqlite:///sales.db", "no such table")])
def test_a_sql_error_on_other_databases(tmp_path, url, words):
    if url.startswith("sqlite"):
        sa.create_engine(f"sqlite:///{tmp_path / 'sales.db'}").connect().close()
    message = error_of({"sql": "select * from cairn_no_such_table", "url": url}, tmp_path)
    assert "The query on" in message and words in message


def test_a_query_returning_no_rows(database):
    url, base_dir, name, _ = database
    assert "returned no rows" in error_of({"sql": f"select * from {name} where row_id < 0", "url": url}, base_dir)


def test_a_missing_sqlite_file(tmp_path):
    message = error_of({"sql": "select 1", "url": "sqlite:///data/sales.db"}, tmp_path)
    assert "data/sales.db does not exist" in message


# DuckDB ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def parquet_folder(tmp_path, ames) -> Path:
    (tmp_path / "data").mkdir()
    ames.iloc[:150].to_parquet(tmp_path / "data" / "part-1.parquet", index=False)
    ames.iloc[150:].to_parquet(tmp_path / "data" / "part-2.parquet", index=False)
    return tmp_path


def test_a_duckdb_query_over_parquet_files_relative_to_the_project(parquet_folder, ames, monkeypatch):
    monkeypatch.chdir("/")
    query = "select * from 'data/*.parquet' where Year_Sold >= 2009 order by row_id"
    result = read({"duckdb": query}, parquet_folder)
    expected = ames[ames["Year_Sold"] >= 2009]
    assert result.table["row_id"].tolist() == expected["row_id"].tolist()
    assert result.table["Neighborhood"].tolist() == expected["Neighborhood"].tolist()
    assert result.total_rows == len(expected) and result.profile is None
    assert result.description.startswith("DuckDB query `select * from 'data/*.parquet'")
    assert read({"duckdb": query}, parquet_folder).fingerprint == result.fingerprint

    changed = ames.iloc[150:].copy()
    changed.loc[changed.index[-1], "Sale_Price"] += 1
    changed.to_parquet(parquet_folder / "data" / "part-2.parquet", index=False)
    if changed["Year_Sold"].iloc[-1] >= 2009:
        assert read({"duckdb": query}, parquet_folder).fingerprint != result.fingerprint
    assert read({"duckdb": "select * from 'data/*.parquet'"}, parquet_folder).fingerprint != read(
        {"duckdb": "select * from 'data/part-1.parquet'"}, parquet_folder).fingerprint


def test_a_duckdb_fingerprint_ignores_row_order(parquet_folder):
    ascending = read({"duckdb": "select * from 'data/*.parquet' order by row_id"}, parquet_folder)
    descending = read({"duckdb": "select * from 'data/*.parquet' order by row_id desc"}, parquet_folder)
    assert ascending.fingerprint == descending.fingerprint


def test_a_duckdb_query_with_sample_rows_is_profiled(parquet_folder, ames):
    result = read({"duckdb": "select * from 'data/*.parquet'"}, parquet_folder, sample_rows=100)
    assert len(result.table) == 100 and result.total_rows == 300
    assert result.profile is not None and result.profile.column("Lot_Area").minimum == ames["Lot_Area"].min()


def test_a_failing_duckdb_query_shows_duckdb_s_message(parquet_folder):
    message = error_of({"duckdb": "select * from 'data/nothing-*.parquet'"}, parquet_folder)
    assert "The DuckDB query failed" in message and "nothing-*.parquet" in message
    message = error_of({"duckdb": "select no_such_column from 'data/*.parquet'"}, parquet_folder)
    assert "no_such_column" in message and "LINE 1" not in message


def test_a_duckdb_query_returning_no_rows(parquet_folder):
    assert "returned no rows" in error_of({"duckdb": "select * from 'data/*.parquet' where false"}, parquet_folder)


def test_scoring_a_file_given_by_absolute_path(tmp_path, ames):
    """Project.read_table reads files from the command line this way, relative to nothing."""
    shutil.copy(AMES, tmp_path / "new.csv.gz")
    result = read_source(Data(source=str(tmp_path / "new.csv.gz")), base_dir=Path.cwd(), sample=False)
    assert len(result.table) == 2930 and result.fingerprint == sha256(tmp_path / "new.csv.gz")


def test_values_pandas_cannot_hash_are_fingerprinted_by_their_text(tmp_path):
    source = {"sql": """select 1 as id, '{"rooms": 3}'::jsonb as details""", "url": POSTGRES}
    first = read(source, tmp_path)
    assert first.table["details"].tolist() == [{"rooms": 3}]
    assert first.fingerprint == read(source, tmp_path).fingerprint
    assert first.fingerprint != read({"sql": """select 1 as id, '{"rooms": 4}'::jsonb as details""",
                                      "url": POSTGRES}, tmp_path).fingerprint


def test_the_example_csv_sampled_through_duckdb(tmp_path):
    shutil.copy(AMES, tmp_path / "ames.csv.gz")
    whole = read("ames.csv.gz", tmp_path)
    sampled = read("ames.csv.gz", tmp_path, sample_rows=1_000)
    assert len(sampled.table) == 1_000 and sampled.total_rows == 2_930 == len(whole.table)
    assert sampled.fingerprint == whole.fingerprint  # the file's bytes, however it is read
    assert list(sampled.table.columns) == list(whole.table.columns)
    assert (sampled.table.dtypes.astype(str) == whole.table.dtypes.astype(str)).all()  # text: category either way
    assert sampled.profile.column("Sale_Price").mean == pytest.approx(whole.table["Sale_Price"].mean())


def test_a_missing_driver_s_fix_names_the_extra_for_its_database_or_the_driver_itself():
    from cairn.stages.data.sources import _driver_fix

    assert _driver_fix("postgresql", "psycopg") == "pip install 'cairn[postgres]'"
    assert _driver_fix("mariadb", "pymysql") == "pip install 'cairn[mysql]'"
    assert _driver_fix("mssql", "pyodbc") == "install the SQLAlchemy driver for mssql (the Python module pyodbc)"
    assert _driver_fix("postgresql", "pg8000") == ("install the SQLAlchemy driver for postgresql (the Python module "
                                                  "pg8000)")  # psycopg's extra would not install it

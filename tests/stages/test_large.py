"""Larger-than-memory sources: DuckDB profiles all rows out of core and pandas gets a reproducible sample."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cairn.config.schema import Data
from cairn.stages.data import read_source
from cairn.stages.data import sources as sources_module
from cairn.stages.data.large import DEFAULT_SAMPLE_ROWS, LARGE_ROWS, column_kind

ROWS = 3_000_000
DUPLICATES = 1_000  # the last rows repeat the first ones exactly


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, dict]:
    """(folder with big.parquet, exact facts about it) — 3,000,000 narrow rows, some missing, some duplicated."""
    folder = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(7)
    unique = ROWS - DUPLICATES
    x = rng.normal(10, 2, unique)
    x[rng.random(unique) < 0.1] = np.nan
    codes = rng.choice(4, unique, p=[0.5, 0.3, 0.15, 0.05])
    day = np.datetime64("2020-01-01") + rng.integers(0, 366, unique).astype("timedelta64[D]")
    columns = {"id": np.arange(unique), "x": x, "k": rng.integers(0, 100, unique), "code": codes, "day": day}
    columns = {name: np.concatenate([values, values[:DUPLICATES]]) for name, values in columns.items()}
    names = np.array(["red", "green", "blue", ""])
    table = pa.table({
        "id": columns["id"], "x": pa.array(columns["x"], from_pandas=True), "k": columns["k"],
        "colour": pa.array(names[columns["code"]], pa.string(), mask=columns["code"] == 3),
        "day": pa.array(columns["day"], pa.date32()),
    })
    pq.write_table(table, folder / "big.parquet", row_group_size=250_000)
    x_all = columns["x"]
    counts = np.bincount(columns["code"], minlength=4)
    facts = {
        "x_missing": int(np.isnan(x_all).sum()), "x_mean": float(np.nanmean(x_all)),
        "x_std": float(np.nanstd(x_all, ddof=1)), "x_min": float(np.nanmin(x_all)), "x_max": float(np.nanmax(x_all)),
        "colour_counts": {name: int(count) for name, count in zip(names[:3], counts[:3], strict=True)},
        "colour_missing": int(counts[3]),
        "day_min": str(columns["day"].min()), "day_max": str(columns["day"].max()),
        "k_below_10": int((columns["k"] < 10).sum()),
    }
    return folder, facts


def read_big(folder: Path, *, seed: int = 42, **settings):
    return read_source(Data(source="big.parquet", **settings), base_dir=folder, seed=seed)


@pytest.fixture(scope="module")
def sampled(big):
    """The big file read once with data.sample_rows, shared by the tests that only look at the result."""
    return read_big(big[0], sample_rows=20_000)


def test_sample_rows_draws_a_reproducible_sample_and_profiles_every_row(big, sampled):
    folder, _ = big
    assert len(sampled.table) == 20_000 and sampled.total_rows == ROWS
    assert sampled.profile is not None and sampled.profile.rows == ROWS and sampled.profile.sample_rows == 20_000
    assert sampled.fingerprint == hashlib.sha256((folder / "big.parquet").read_bytes()).hexdigest()
    assert sampled.description == "big.parquet (sample of 20,000 of 3,000,000 rows, seed 42)"
    pd.testing.assert_frame_equal(sampled.table, read_big(folder, sample_rows=20_000).table)
    assert not sampled.table["id"].equals(read_big(folder, sample_rows=20_000, seed=43).table["id"])
    ids = sampled.table["id"]
    before_duplicates = ids.iloc[: int((ids.diff() < 0).argmax()) or len(ids)]
    assert len(before_duplicates) > 19_000 and before_duplicates.is_monotonic_increasing  # file order
    assert list(sampled.table.columns) == ["id", "x", "k", "colour", "day"]


def test_the_profile_matches_exact_statistics(big, sampled):
    _, facts = big
    profile = sampled.profile
    assert profile.duplicate_rows == DUPLICATES
    x = profile.column("x")
    assert (x.duckdb_type, x.kind, x.missing, x.rows) == ("DOUBLE", "number", facts["x_missing"], ROWS)
    assert x.mean == pytest.approx(facts["x_mean"], rel=1e-9) and x.std == pytest.approx(facts["x_std"], rel=1e-9)
    assert (x.minimum, x.maximum) == (facts["x_min"], facts["x_max"])
    assert x.missing_share == pytest.approx(facts["x_missing"] / ROWS)
    identifiers = profile.column("id")
    assert identifiers.distinct_estimate == pytest.approx(ROWS - DUPLICATES, rel=0.05)  # HyperLogLog
    assert profile.column("k").distinct_estimate == pytest.approx(100, rel=0.05)
    colour = profile.column("colour")
    assert colour.kind == "text" and colour.missing == facts["colour_missing"]
    assert dict(colour.top_values) == facts["colour_counts"] and colour.top_values[0][0] == "red"
    day = profile.column("day")
    assert (day.kind, day.minimum, day.maximum) == ("time", facts["day_min"], facts["day_max"])
    assert profile.names == ["id", "x", "k", "colour", "day"]


def test_dates_survive_the_sample(sampled):
    day = sampled.table["day"].dropna()
    assert pd.api.types.is_datetime64_any_dtype(day) or isinstance(day.iloc[0], dt.date)


def test_a_parquet_file_over_the_threshold_is_sampled_without_sample_rows(big, monkeypatch):
    folder, _ = big
    assert ROWS > LARGE_ROWS and DEFAULT_SAMPLE_ROWS == 500_000
    monkeypatch.setattr(sources_module, "DEFAULT_SAMPLE_ROWS", 5_000)  # fetching 500,000 rows proves nothing more
    result = read_big(folder)
    assert len(result.table) == 5_000 and result.total_rows == ROWS and result.profile is not None


def test_sample_false_reads_every_row(big):
    folder, _ = big
    result = read_source(Data(source="big.parquet", sample_rows=10), base_dir=folder, sample=False)
    assert len(result.table) == ROWS and result.total_rows == ROWS and result.profile is None


def test_a_duckdb_query_over_a_large_file_is_profiled(big):
    folder, facts = big
    result = read_source(Data(source={"duckdb": "select * from 'big.parquet' where k < 10"}, sample_rows=5_000),
                         base_dir=folder)
    assert len(result.table) == 5_000 and result.total_rows == facts["k_below_10"]
    assert result.profile.column("k").maximum == 9


def test_text_files_are_streamed_to_duckdb_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_module, "CHUNK_ROWS", 1_000)
    table = pd.DataFrame({"id": range(5_000), "city": ["Ames", "Boone", None, "Nevada", "Story City"] * 1_000,
                          "price": np.linspace(1, 2, 5_000)})
    table.to_csv(tmp_path / "sales.csv.gz", index=False)
    result = read_source(Data(source="sales.csv.gz", sample_rows=700), base_dir=tmp_path)
    assert len(result.table) == 700 and result.total_rows == 5_000
    assert result.table["id"].is_monotonic_increasing
    merged = result.table.merge(table, on="id", suffixes=("", "_source"))
    assert len(merged) == 700 and np.allclose(merged["price"], merged["price_source"])
    assert (merged["city"].astype(object).fillna("-") == merged["city_source"].fillna("-")).all()  # text: categories
    assert dict(result.profile.column("city").top_values)["Ames"] == 1_000
    assert result.profile.column("city").missing == 1_000


def test_frequent_values_of_a_high_cardinality_column_are_exact(tmp_path):
    values = [f"user-{i % 15_000}" for i in range(30_000)] + ["hot"] * 500
    pd.DataFrame({"user": values}).to_parquet(tmp_path / "users.parquet")
    profile = read_source(Data(source="users.parquet", sample_rows=100), base_dir=tmp_path).profile
    user = profile.column("user")
    assert user.distinct_estimate > 10_000
    assert user.top_values[0] == ("hot", 500)
    assert all(count == 2 for _, count in user.top_values[1:])
    assert profile.duplicate_rows == 30_500 - 15_001


def test_duckdb_leaves_no_spill_files_behind(tmp_path, monkeypatch):
    pd.DataFrame({"a": range(1_000)}).to_csv(tmp_path / "a.csv", index=False)
    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    assert len(read_source(Data(source="a.csv", sample_rows=10), base_dir=tmp_path).table) == 10
    assert list(spill.iterdir()) == []


def test_the_same_table_either_way_when_the_sample_holds_every_row(tmp_path):
    """pd.read_parquet hides the index pandas stored; DuckDB must too, and give the same dtypes."""
    table = pd.DataFrame({"a": range(10), "b": list("abcdefghij"), "when": pd.date_range("2024-01-01", periods=10)},
                         index=[7, 3, 9, 1, 0, 2, 8, 6, 5, 4])
    table.to_parquet(tmp_path / "indexed.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "indexed.parquet").names
    whole = read_source(Data(source="indexed.parquet"), base_dir=tmp_path)
    through_duckdb = read_source(Data(source="indexed.parquet", sample_rows=50), base_dir=tmp_path)
    assert through_duckdb.profile is not None and through_duckdb.profile.names == ["a", "b", "when"]
    pd.testing.assert_frame_equal(through_duckdb.table, whole.table.reset_index(drop=True))


@pytest.mark.parametrize("duckdb_type, kind", [("DECIMAL(10,2)", "number"), ("BIGINT", "number"),
                                               ("TIMESTAMP WITH TIME ZONE", "time"), ("VARCHAR", "text"),
                                               ("BOOLEAN", "boolean"), ("INTEGER[]", "nested"),
                                               ("STRUCT(a INTEGER)", "nested")])
def test_column_kinds_from_duckdb_types(duckdb_type, kind):
    assert column_kind(duckdb_type) == kind


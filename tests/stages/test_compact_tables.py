"""Issue 15, a million rows without copies: text read as categories, cleaning once per distinct value, numbers shared
with the table read, duplicates counted as pandas counts them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Data, Preprocessing
from cairn.stages.data import read_source
from cairn.stages.data.sources import read_parquet_compact
from cairn.stages.preprocessing import clean_table, first_seen, repeated, row_ids, unify_missing


def messy_table(rows: int = 600, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "area": rng.choice([50.0, 75.0, np.nan], rows),
        "rooms": rng.integers(1, 4, rows),
        "city": pd.Series(rng.choice(["Ames", "Ames ", " N/A", "Boone", None, "null"], rows), dtype="str"),
        "kind": pd.Series(rng.choice(["a", "b"], rows), dtype=object),
        "price": rng.choice([100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, np.nan], rows),
    })


def test_parquet_text_columns_arrive_as_categories_with_the_values_pandas_reads(tmp_path):
    table = messy_table()
    table.to_parquet(tmp_path / "sales.parquet", index=False)
    compact, plain = read_parquet_compact(tmp_path / "sales.parquet"), pd.read_parquet(tmp_path / "sales.parquet")
    assert isinstance(compact["city"].dtype, pd.CategoricalDtype) and compact["area"].dtype == "float64"
    for name in plain.columns:
        ours, theirs = compact[name].to_numpy(dtype=object), plain[name].to_numpy(dtype=object)
        assert (pd.isna(ours) == pd.isna(theirs)).all() and (ours[~pd.isna(ours)] == theirs[~pd.isna(theirs)]).all()
    read = read_source(Data(source="sales.parquet"), base_dir=tmp_path)
    assert isinstance(read.table["kind"].dtype, pd.CategoricalDtype)


def test_cleaning_trims_and_reads_markers_once_per_level_and_shares_the_numbers():
    raw = messy_table()
    cleaned, unified = unify_missing(raw, keep_objects=("kind",))
    expected_markers = int(raw["city"].isin([" N/A", "null"]).sum())
    assert unified == expected_markers
    assert isinstance(cleaned["city"].dtype, pd.CategoricalDtype)
    assert sorted(cleaned["city"].cat.categories) == ["Ames", "Boone"]  # 'Ames ' is 'Ames'; markers are missing
    assert int(cleaned["city"].isna().sum()) == int(raw["city"].isna().sum()) + expected_markers
    assert cleaned["kind"].dtype == object and set(cleaned["kind"]) == {"a", "b"}
    assert np.shares_memory(cleaned["area"].to_numpy(), raw["area"].to_numpy())  # numbers are never copied


def test_duplicate_counts_match_pandas():
    table = messy_table(seed=3)
    features = row_ids(table, ["area", "rooms", "city", "kind"])
    rows = row_ids(table, ["price"], start=features)
    assert (~first_seen(rows) == table.duplicated().to_numpy()).all()
    assert (repeated(features) == table.drop(columns="price").duplicated(keep=False).to_numpy()).all()
    assert (repeated(rows) == table.duplicated(keep=False).to_numpy()).all()


@pytest.mark.parametrize("text", ["str", "category"])
def test_the_clean_table_is_the_same_whatever_the_text_dtype(text):
    raw = messy_table(seed=5)
    raw["city"] = raw["city"].astype(text)
    dropping = Preprocessing(duplicates="drop")  # auto keeps them: five coarse columns repeat by chance
    clean, report = clean_table(raw, target="price", spec=dropping)
    reference, reference_report = clean_table(messy_table(seed=5), target="price", spec=dropping)
    assert report == reference_report and report.duplicates_dropped > 0
    assert clean["city"].astype(object).equals(reference["city"].astype(object))


def test_the_refit_reads_categories_as_the_model_frame_gives_them():
    from cairn.estimators.encoder import TabularEncoder
    from cairn.model.inputs import model_frame_for_fit as _model_inputs
    from cairn.model.trained import FeatureSpec, as_model_frame

    clean, _ = clean_table(messy_table(seed=7), target="price", spec=Preprocessing())
    features = [FeatureSpec("area", "number", 50.0), FeatureSpec("rooms", "number", 2.0),
                FeatureSpec("city", "category", "Ames"), FeatureSpec("kind", "category", "a")]
    ours, theirs = _model_inputs(clean, features), as_model_frame(clean, features)
    assert list(ours.columns) == list(theirs.columns) and isinstance(ours["city"].dtype, pd.CategoricalDtype)
    encoder = TabularEncoder(("area", "rooms"), ("city", "kind"), one_hot=True)
    assert np.array_equal(encoder.fit_transform(ours), encoder.fit_transform(theirs), equal_nan=True)

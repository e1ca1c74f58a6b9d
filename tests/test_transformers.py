"""The encoder inside every pipeline: same output for a frame and for JSON records, robust to unseen input."""

import numpy as np
import pandas as pd
import pytest

from cairn.model import FeatureSpec, as_model_columns, as_model_frame
from cairn.transformers import TabularEncoder

FEATURES = [FeatureSpec("area", "number"), FeatureSpec("rooms", "number"), FeatureSpec("zone", "category")]


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "area": rng.normal(1500, 300, 200).round(),
        "rooms": np.where(rng.random(200) < 0.1, np.nan, rng.integers(1, 6, 200)),
        "zone": rng.choice(["A", "B", "C", " A ", "N/A", "rare"], 200, p=[0.4, 0.3, 0.2, 0.05, 0.04, 0.01]),
    })


def test_ordinal_codes_clean_spelling_missing_and_rare(table):
    encoder = TabularEncoder(("area", "rooms"), ("zone",), min_frequency=5).fit(as_model_frame(table, FEATURES))
    codes = encoder.codes_[0]
    assert set(codes) == {"a", "b", "c", None, "(other)"}  # ' A ' is 'a', 'N/A' is missing, 'rare' is other
    out = encoder.transform(as_model_frame(pd.DataFrame({"area": [np.nan], "rooms": [np.nan],
                                                         "zone": ["unseen"]}), FEATURES))
    assert out.shape == (1, 4)  # area, rooms, rooms_missing flag, zone code
    assert out[0, 0] == pytest.approx(np.median(table["area"]))
    assert out[0, 2] == 1.0 and out[0, 3] == codes["(other)"]


def test_one_hot_scaled_and_records_match_frame(table):
    frame = as_model_frame(table, FEATURES)
    encoder = TabularEncoder(("area", "rooms"), ("zone",), one_hot=True, scale=True).fit(frame)
    dense = encoder.transform(frame)
    assert dense.shape[1] == len(encoder.get_feature_names_out())
    assert np.allclose(dense[:, 0].mean(), 0, atol=1e-9) and np.allclose(dense[:, 0].std(), 1)
    records = table.head(5).to_dict(orient="records")
    assert np.allclose(encoder.transform(as_model_columns(records, FEATURES)), dense[:5])


def test_clip_to_learned_fences(table):
    frame = as_model_frame(table, FEATURES)
    encoder = TabularEncoder(("area",), (), clip="iqr", clip_factor=1.5).fit(frame)
    out = encoder.transform(as_model_frame(pd.DataFrame({"area": [1e9]}), FEATURES))
    assert out[0, 0] == pytest.approx(encoder.upper_[0])


def test_text_in_number_column_becomes_missing():
    frame = as_model_frame([{"area": "1,250", "rooms": "3", "zone": None}], FEATURES)
    assert np.isnan(frame.loc[0, "area"]) and frame.loc[0, "rooms"] == 3.0 and pd.isna(frame.loc[0, "zone"])


def test_robust_z_fences_and_per_column_strategies(table):
    frame = as_model_frame(table, FEATURES)
    encoder = TabularEncoder(("area", "rooms"), ("zone",), clip="zscore", clip_factor=3,
                             column_impute=(("rooms", "mode"), ("zone", "mode"))).fit(frame)
    center = np.median(table["area"])
    mad = np.median(np.abs(table["area"] - center)) * 1.4826
    assert encoder.upper_[0] == pytest.approx(center + 3 * mad)
    rooms = table["rooms"].dropna()
    assert encoder.fill_[1] == rooms.value_counts().idxmax()
    assert encoder.codes_[0][None] == encoder.codes_[0]["a"]  # missing zone imputed with the most frequent


def test_spellings_are_one_level_when_normalised():
    frame = pd.DataFrame({"zone": ["North_Ames"] * 6 + ["north_ames "] * 6 + ["NORTH_AMES"] * 6 + ["Other"] * 6})
    features = [FeatureSpec("zone", "category")]
    normalised = TabularEncoder((), ("zone",)).fit(as_model_frame(frame, features))
    assert set(normalised.codes_[0]) == {"north_ames", "other"}
    raw = TabularEncoder((), ("zone",), normalize=False).fit(as_model_frame(frame, features))
    assert len(raw.codes_[0]) == 4


def test_dates_become_calendar_parts():
    features = [FeatureSpec("sold", "number", parse="date")]
    frame = as_model_frame(pd.DataFrame({"sold": ["2024-02-29", "2010-07-04", None]}), features)
    encoder = TabularEncoder((), (), ("sold",)).fit(frame)
    out = encoder.transform(frame)
    names = list(encoder.get_feature_names_out())
    assert names == ["sold_days", "sold_year", "sold_month", "sold_day", "sold_weekday", "sold_missing"]
    assert out[0, 1:5].tolist() == [2024, 2, 29, 3]  # a Thursday
    assert out[1, 1:5].tolist() == [2010, 7, 4, 6]  # a Sunday
    assert out[2, 5] == 1.0

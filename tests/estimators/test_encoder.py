"""The encoder inside every pipeline: same output for a frame and for JSON records, robust to unseen input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor

from cairn.estimators.encoder import TabularEncoder
from cairn.model.trained import FeatureSpec, as_model_columns, as_model_frame

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


def many_levels(rows: int = 2000, levels: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A category whose level decides the target, with far too many levels to one-hot."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 10, levels)
    codes = rng.integers(0, levels, rows)
    frame = pd.DataFrame({"shop": np.array([f"s{c}" for c in codes], dtype=object)})
    return frame, effect[codes] + rng.normal(0, 1, rows)


def test_many_levels_target_encoded_out_of_fold():
    frame, y = many_levels()
    features = [FeatureSpec("shop", "category")]
    encoder = TabularEncoder((), ("shop",), one_hot=True, max_levels=30)
    train = encoder.fit_transform(as_model_frame(frame, features), y)
    assert list(encoder.get_feature_names_out()) == ["shop~target"]
    assert train.shape == (2000, 1)
    served = encoder.transform(as_model_frame(frame, features))
    # both carry the level's effect, but a training row never sees its own target: out of fold differs
    assert np.corrcoef(served[:, 0], y)[0, 1] > 0.9
    assert np.corrcoef(train[:, 0], y)[0, 1] > 0.8
    assert not np.allclose(train, served)
    unseen = encoder.transform(as_model_frame(pd.DataFrame({"shop": ["never seen", None]}), features))
    rare = encoder.target_means_[0].table_[encoder.codes_[0]["(other)"], 0]  # levels under min_frequency
    assert unseen[:, 0].tolist() == pytest.approx([rare, rare])


def test_target_encoding_does_not_leak_noise():
    """On a target unrelated to the level, out-of-fold means stay near zero: in-fold means would fit the noise."""
    frame, _ = many_levels(rows=1000, levels=300)
    noise = np.random.default_rng(1).normal(0, 1, 1000)
    encoder = TabularEncoder((), ("shop",), max_levels=10)
    oof = encoder.fit_transform(as_model_frame(frame, [FeatureSpec("shop", "category")]), noise)[:, 0]
    in_fold = encoder.transform(as_model_frame(frame, [FeatureSpec("shop", "category")]))[:, 0]
    assert abs(np.corrcoef(oof, noise)[0, 1]) < 0.1
    assert np.corrcoef(in_fold, noise)[0, 1] > 0.2  # what a naive encoder would hand the model


def test_target_encoding_classes_one_column_per_class():
    frame, y = many_levels(rows=900, levels=100)
    labels = np.array(["low", "mid", "high"])[np.digitize(y, [-5, 5])]
    encoder = TabularEncoder((), ("shop",), max_levels=10)
    out = encoder.fit_transform(as_model_frame(frame, [FeatureSpec("shop", "category")]), labels)
    assert list(encoder.get_feature_names_out()) == ["shop~target=high", "shop~target=low", "shop~target=mid"]
    assert out.shape == (900, 3)
    binary = encoder.fit_transform(as_model_frame(frame, [FeatureSpec("shop", "category")]), labels == "high")
    assert binary.shape == (900, 1)


def test_without_target_many_levels_are_grouped_codes():
    frame, _ = many_levels()
    frame = as_model_frame(frame, [FeatureSpec("shop", "category")])
    encoder = TabularEncoder((), ("shop",), one_hot=True, max_levels=30).fit(frame)
    assert len(encoder.get_feature_names_out()) == 31  # 30 levels and the rest grouped


def test_yeo_johnson_reshapes_skewed_numbers_only():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.lognormal(10, 1, 3000), "height": rng.normal(170, 10, 3000)})
    features = [FeatureSpec("income", "number"), FeatureSpec("height", "number")]
    encoder = TabularEncoder(("income", "height"), power=True, scale=True).fit(as_model_frame(frame, features))
    assert list(encoder.powered_) == [0]
    out = encoder.transform(as_model_frame(frame, features))
    assert abs(pd.Series(out[:, 0]).skew()) < 0.2 < pd.Series(frame["income"]).skew()
    assert np.allclose(out[:, 1], (frame["height"] - frame["height"].mean()) / frame["height"].std(ddof=0))
    one = encoder.transform(as_model_columns(frame.head(1).to_dict(orient="records"), features))
    assert np.allclose(one, out[:1])


def test_quantile_bins_and_text_counts():
    frame = pd.DataFrame({"year": np.arange(1900, 2000, dtype=float),
                          "note": ["two words", "", None, "call 555 0100", *["x"] * 96]})
    features = [FeatureSpec("year", "number"), FeatureSpec("note", "category", parse="text")]
    encoder = TabularEncoder(("year",), texts=("note",), bins=(("year", 4),), one_hot=True)
    out = encoder.fit_transform(as_model_frame(frame, features), np.arange(100.0))
    names = list(encoder.get_feature_names_out())
    assert names == ["year", "note~chars", "note~words", "note~digits", *[f"year~bin={k}" for k in range(4)]]
    assert out[:, 4:].sum(axis=0).tolist() == [25, 25, 25, 25]
    assert np.expm1(out[0, 1:4]).round().tolist() == [9, 2, 0]
    assert np.expm1(out[3, 1:4]).round().tolist() == [13, 3, 7]
    assert out[2, 1:4].tolist() == [0, 0, 0]


def test_dates_as_text_get_a_time_index_from_the_earliest_training_date():
    features = [FeatureSpec("sold", "number", parse="date")]
    train = as_model_frame(pd.DataFrame({"sold": ["2010-07-04", "2010-07-14", "2011-07-04", None]}), features)
    encoder = TabularEncoder((), (), ("sold",)).fit(train)
    index = encoder.transform(train)[:, 0]
    assert index[:3].tolist() == [0.0, 10.0, 365.0] and index[3] == 10.0  # missing: the median date
    later = as_model_frame(pd.DataFrame({"sold": ["2012-07-04", "2009-07-04"]}), features)
    assert encoder.transform(later)[:, 0].tolist() == [731.0, -365.0]  # after and before the training dates
    tree = DecisionTreeRegressor(max_depth=1).fit(encoder.transform(train)[:3, :1], [1.0, 1.0, 5.0])
    assert tree.tree_.threshold[0] == 187.5  # splits between the July 2010 sales and the one a year later


def test_an_encoder_pickled_before_the_time_index_answers_as_it_did():
    features = [FeatureSpec("sold", "number", parse="date")]
    frame = as_model_frame(pd.DataFrame({"sold": ["2010-07-04", "2011-07-04"]}), features)
    state = TabularEncoder((), (), ("sold",)).fit(frame).__getstate__()
    del state["date_origin_"]  # as an encoder fitted before the time index was pickled
    old = TabularEncoder.__new__(TabularEncoder)
    old.__setstate__(state)
    assert old.transform(frame)[:, 0].tolist() == [14794.0, 15159.0]  # days since 1970, as it answered then
    assert pickle.loads(pickle.dumps(old)).transform(frame)[:, 0].tolist() == [14794.0, 15159.0]


@pytest.mark.parametrize("learned, served", [
    ([3, 1, 2, 3, 1] * 20, [1.0, np.nan, 3.0, 7.0]),  # learned as whole numbers, served from a chunk with a gap
    ([3.0, 1.0, np.nan, 2.0, 1.0] * 20, [1, None, 3, 7]),  # learned with a gap (keys '1.0', as saved before)
    ([3, 1, 2, 3, 1] * 20, ["1.0", None, " 3 ", "7"]),  # as text, in either spelling
])
def test_a_whole_number_level_is_one_level_in_either_spelling(learned, served):
    """pandas reads a column of whole numbers as floats where one is missing: a postal code learned as 98115 comes
    back as 98115.0. Either spelling is the same level; a number training never had stays unseen."""
    def frame(values):
        return as_model_frame(pd.DataFrame({"zone": pd.Series(values, dtype=object).infer_objects()}),
                              [FeatureSpec("zone", "category")])

    encoder = TabularEncoder((), ("zone",), min_frequency=1).fit(frame(learned))
    codes = encoder.codes_[0]
    spelt = "1.0" if np.isnan(np.asarray(learned, dtype=float)).any() else "1"
    assert spelt in codes and ({"1", "1.0"} - {spelt}).isdisjoint(codes)  # the fit keeps its own spelling
    for rows in (4, 400):  # one request, and a batch (looked up once per distinct value)
        served_rows = (served * rows)[:rows]
        coded = encoder.transform(frame(served_rows))[:, 0]
        expected = [codes[spelt], codes.get(None, -1), codes["3.0" if spelt == "1.0" else "3"], -1] * (rows // 4)
        assert coded.tolist() == expected


def test_both_spellings_learned_keep_their_own_codes_and_long_numbers_are_never_respelt():
    """A fit that learned '7' and '7.0' as levels of their own reads each as learned: only a value the fit never saw
    is read in its other spelling. Past 15 digits a float is no longer exact (the identifier 2**53 + 1 read as a
    float is 2**53), so such a number is never respelt onto another identifier."""
    learned = pd.DataFrame({"code": pd.Series(["7"] * 10 + [7.0] * 10 + [2**53] * 10, dtype=object)})
    encoder = TabularEncoder((), ("code",), min_frequency=5).fit(learned)
    codes = encoder.codes_[0]
    assert {"7", "7.0", str(2**53)} <= set(codes) and codes["7"] != codes["7.0"]
    served = pd.DataFrame({"code": pd.Series(["7", 7.0, 7, float(2**53 + 1)], dtype=object)})
    assert encoder.transform(served)[:, 0].tolist() == [codes["7"], codes["7.0"], codes["7"], -1]

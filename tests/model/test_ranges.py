"""Inputs far outside the training range (issue 17, item 4): recorded, clipped, said, and bounded answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from cairn.estimators.target_transforms import expm1_target, log1p_target
from cairn.model.bundle import DESCRIPTION, bundle_files, model_from
from cairn.model.inputs import within_training_range
from cairn.model.ranges import out_of_range, range_warnings, with_training_ranges
from cairn.model.trained import FeatureSpec, TrainedModel

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
NUMBERS = ["Gr_Liv_Area", "Lot_Area", "Year_Built", "Total_Bsmt_SF"]
CATEGORIES = ["Neighborhood", "Central_Air"]


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


@pytest.fixture(scope="module")
def log_prices(ames: pd.DataFrame) -> TrainedModel:
    """A linear model of the log-price, as cairn builds one, with the training ranges cairn records."""
    prepare = ColumnTransformer([("numbers", SimpleImputer(strategy="median"), NUMBERS),
                                 ("categories", Pipeline([("fill", SimpleImputer(strategy="constant",
                                                                                 fill_value="(missing)")),
                                                          ("code", OneHotEncoder(handle_unknown="ignore"))]),
                                  CATEGORIES)])
    pipeline = TransformedTargetRegressor(regressor=Pipeline([("prepare", prepare), ("ridge", Ridge())]),
                                          func=log1p_target, inverse_func=expm1_target, check_inverse=False)
    features = [FeatureSpec(name, "number") for name in NUMBERS] + [FeatureSpec(name, "category")
                                                                     for name in CATEGORIES]
    model = TrainedModel(name="log-prices", version=1, problem="regression", target="Sale_Price",
                         features=with_training_ranges(features, ames), pipeline=pipeline)
    pipeline.fit(model.frame(ames), ames["Sale_Price"])
    return model


def test_ranges_are_those_of_the_training_rows_for_numbers_only(ames: pd.DataFrame) -> None:
    features = [FeatureSpec("Gr_Liv_Area", "number"), FeatureSpec("Neighborhood", "category"),
                FeatureSpec("Sold", "number", parse="date"), FeatureSpec("Empty", "number")]
    table = ames.assign(Sold="2008-06-01", Empty=np.nan)
    ranged = {f.name: f for f in with_training_ranges(features, table)}
    assert (ranged["Gr_Liv_Area"].low, ranged["Gr_Liv_Area"].high) == (ames["Gr_Liv_Area"].min(),
                                                                       ames["Gr_Liv_Area"].max())
    assert ranged["Neighborhood"].low is None and ranged["Sold"].low is None  # a later date is the normal case
    assert ranged["Empty"].low is None and ranged["Empty"].high is None  # no value, no range


def test_numbers_are_clipped_on_every_input_path_and_missing_stays_missing() -> None:
    features = [FeatureSpec("x", "number", low=0.0, high=10.0), FeatureSpec("c", "category")]
    one = within_training_range({"x": np.array([1e6]), "c": np.array(["a"], dtype=object)}, features)
    assert one["x"].tolist() == [10.0] and one["c"].tolist() == ["a"]
    inside = np.array([3.0])
    assert within_training_range({"x": inside}, features)["x"] is inside  # no copy when nothing is out of range
    many = within_training_range({"x": np.array([-5.0, np.nan, 4.0, 11.0])}, features)["x"]
    assert np.array_equal(many, [0.0, np.nan, 4.0, 10.0], equal_nan=True)
    frame = within_training_range(pd.DataFrame({"x": [-1.0, 20.0, np.nan]}), features)
    assert np.array_equal(frame["x"].to_numpy(), [0.0, 10.0, np.nan], equal_nan=True)


def test_far_values_answer_within_the_training_world(log_prices: TrainedModel, ames: pd.DataFrame) -> None:
    record = json.loads(ames[NUMBERS + CATEGORIES].iloc[[10]].to_json(orient="records"))[0]
    highest = ames["Sale_Price"].max()
    for field, value in (("Total_Bsmt_SF", 1e6), ("Gr_Liv_Area", 1e7), ("Lot_Area", 1e300), ("Year_Built", -1e9)):
        edge = getattr(feature(log_prices, field), "high" if value > 0 else "low")
        answer = float(log_prices.predict(pd.DataFrame([{**record, field: value}]))[0])  # a ColumnTransformer
        at_edge = float(log_prices.predict(pd.DataFrame([{**record, field: edge}]))[0])
        assert np.isfinite(answer) and 0 < answer < 10 * highest, (field, answer)
        assert answer == pytest.approx(at_edge)  # as if the edge of the training range had been sent
    table = pd.DataFrame([{**record, "Total_Bsmt_SF": 1e6}, record])
    assert np.isfinite(log_prices.predict(table)).all()
    normal = ames[NUMBERS + CATEGORIES].head(200)
    unclipped = log_prices.pipeline.predict(log_prices.frame(normal))  # values inside the range: unchanged
    assert np.allclose(log_prices.predict(normal), unclipped)


def feature(model: TrainedModel, name: str) -> FeatureSpec:
    return next(f for f in model.features if f.name == name)


def test_out_of_range_values_are_counted_and_named() -> None:
    features = [FeatureSpec("Total_Bsmt_SF", "number", low=0.0, high=6110.0), FeatureSpec("y", "number")]
    found = out_of_range(pd.DataFrame({"Total_Bsmt_SF": [1e6, 10.0, -3.0, np.nan], "y": [1e9] * 4}), features)
    assert [(f.name, f.count, f.furthest) for f in found] == [("Total_Bsmt_SF", 2, 1e6)]
    [sentence] = range_warnings(found)
    assert sentence.startswith("Total_Bsmt_SF is outside the training range 0 to 6110 (2 values, furthest 1e+06)")
    single = out_of_range({"Total_Bsmt_SF": np.array([1e6])}, features)
    assert range_warnings(single)[0].startswith("Total_Bsmt_SF = 1e+06 is outside the training range 0 to 6110")


def test_the_bundle_keeps_the_ranges_and_old_bundles_load_without(log_prices: TrainedModel) -> None:
    description = json.loads(bundle_files(log_prices)[DESCRIPTION])
    saved = {f["name"]: (f["low"], f["high"]) for f in description["features"]}
    assert saved["Total_Bsmt_SF"] == (feature(log_prices, "Total_Bsmt_SF").low,
                                      feature(log_prices, "Total_Bsmt_SF").high)
    assert saved["Neighborhood"] == (None, None)
    assert [f.low for f in model_from(description, log_prices.pipeline).features] == \
        [f.low for f in log_prices.features]
    for spec in description["features"]:  # as written before 0.2
        spec.pop("low"), spec.pop("high")
    old = model_from(description, log_prices.pipeline)
    assert all(f.low is None and f.high is None for f in old.features)
    assert np.isfinite(old.predict(pd.DataFrame([{"Total_Bsmt_SF": 100.0}]))).all()

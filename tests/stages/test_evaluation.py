"""Holdout confidence intervals: bootstrap draws made in blocks, so a large holdout stays small in memory."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.stages import evaluation
from cairn.stages.evaluation import _bootstrap_interval, _resamples


def test_blocks_of_draws_are_the_draws_of_one_matrix(monkeypatch):
    monkeypatch.setattr(evaluation, "BOOTSTRAP_BLOCK_CELLS", 10_000)
    blocks = list(_resamples(3_000, count=100, seed=7))
    assert len(blocks) == 34 and max(len(b) for b in blocks) == 3  # 10,000 cells: 3 draws of 3,000 rows
    np.testing.assert_array_equal(np.concatenate(blocks), np.random.default_rng(7).integers(0, 3_000, (100, 3_000)))


def test_the_interval_holds_the_estimate_and_narrows_with_rows():
    rng = np.random.default_rng(0)

    def width(rows: int) -> tuple[float, float, float]:
        y = rng.normal(100, 10, rows)
        predicted = y + rng.normal(0, 5, rows)
        low, high = _bootstrap_interval("rmse", y, predicted, None, None, _resamples(rows, count=500, seed=1), 0.95)
        return low, float(np.sqrt(np.mean((predicted - y) ** 2))), high

    low, value, high = width(400)
    assert low < value < high and low > 4 and high < 6
    big_low, _, big_high = width(40_000)
    assert big_high - big_low < (high - low) / 5


def test_a_metric_scored_one_resample_at_a_time_stops_in_bounded_time(monkeypatch):
    """Issue 17, item 13: multiclass AUC is scored resample by resample; past its time it keeps what it drew."""
    monkeypatch.setattr(evaluation, "SLOW_BOOTSTRAP_S", 0.0)  # out of time at once: only the minimum is scored
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300) + np.eye(3)[y] * (rng.random(300) < 0.8)[:, None]
    proba /= proba.sum(axis=1, keepdims=True)
    predicted = proba.argmax(axis=1)
    drawn = []
    original = evaluation._one_at_a_time

    def counting(*args, **kwargs):
        scored = original(*args, **kwargs)
        drawn.append(len(scored))
        return scored

    monkeypatch.setattr(evaluation, "_one_at_a_time", counting)
    low, high = _bootstrap_interval("roc_auc", y, predicted, proba, np.array([0, 1, 2]),
                                    _resamples(300, count=1000, seed=1), 0.95)
    assert sum(drawn) == evaluation.MIN_SLOW_RESAMPLES
    assert low is not None and high is not None and 0.6 < low < high < 0.95


def test_a_resample_that_misses_a_class_scores_nan_without_a_warning():
    """A user saw 639 lines of scikit-learn's UndefinedMetricWarning from a multiclass ROC AUC bootstrap on 43
    holdout rows: a draw that misses a class has no AUC, which the interval leaves out, and that is all."""
    import warnings

    y = np.array([0, 1, 2] * 4 + [2])
    proba = np.full((13, 3), 0.2) + np.eye(3)[y] * 0.4
    predicted = proba.argmax(axis=1)
    one_class = np.array([[0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0]])  # class 0 only
    every_row = np.arange(13)[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        values = evaluation._one_at_a_time("roc_auc", y, predicted, proba, np.array([0, 1, 2]),
                                           np.concatenate([one_class, every_row]))
    assert np.isnan(values[0]) and values[1] == pytest.approx(1.0)

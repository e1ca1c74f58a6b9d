"""The paired comparisons against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cairn.metrics.paired import corrected_resampled_t, paired_bootstrap


def _student_t4_two_sided(t: float) -> float:
    """Student's t with 4 degrees of freedom has a closed-form CDF: F(t) = 1/2 + 3/8 u (1 - u^2/12 / ...)."""
    scaled = 1 + t * t / 4
    cdf = 0.5 + 3 / 8 * (t / math.sqrt(scaled)) * (1 - t * t / (12 * scaled))
    return 2 * (1 - cdf)


def test_nadeau_bengio_on_five_folds_matches_the_hand_computation():
    # differences 0.02, 0.02, -0.01, 0.03, 0.03: mean 0.018, sample variance 2.7e-4;
    # t = 0.018 / sqrt((1/5 + 1/4) * 2.7e-4) = 4 / sqrt(6) = 1.63299 (the plain paired t would be 2.449)
    first = [0.80, 0.82, 0.78, 0.85, 0.81]
    second = [0.78, 0.80, 0.79, 0.82, 0.78]
    result = corrected_resampled_t(first, second, test_share=1 / 4)
    assert result.folds == 5
    assert result.mean_difference == pytest.approx(0.018)
    assert result.t == pytest.approx(4 / math.sqrt(6), rel=1e-9)
    assert result.p_value == pytest.approx(_student_t4_two_sided(4 / math.sqrt(6)), rel=1e-9)
    assert result.p_value == pytest.approx(0.17781, abs=1e-5)


def test_the_correction_makes_the_test_more_cautious_than_a_plain_paired_t():
    first, second = [0.80, 0.82, 0.78, 0.85, 0.81], [0.78, 0.80, 0.79, 0.82, 0.78]
    plain = corrected_resampled_t(first, second, test_share=0.0)
    corrected = corrected_resampled_t(first, second, test_share=1 / 4)
    assert plain.t == pytest.approx(0.018 / math.sqrt(2.7e-4 / 5))
    assert corrected.p_value > plain.p_value


def test_nadeau_bengio_without_spread_and_with_mismatched_folds():
    assert corrected_resampled_t([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], test_share=0.5).p_value == 1.0
    steady = corrected_resampled_t([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], test_share=0.5)
    assert steady.p_value == 0.0 and steady.t == math.inf
    with pytest.raises(ValueError, match="same two or more folds"):
        corrected_resampled_t([1.0, 2.0], [1.0], test_share=0.5)


def _mae(y: np.ndarray, predicted: np.ndarray):
    return lambda draws: np.abs(predicted[draws] - y[draws]).mean(axis=1)


def test_paired_bootstrap_of_a_constant_difference_is_exact():
    # first is off by 1 on every row, second by 3: MAE differs by -2 on every resample, whatever rows it draws
    y = np.random.default_rng(0).normal(100, 10, size=300)
    result = paired_bootstrap(_mae(y, y + 1), _mae(y, y - 3), rows=len(y), resamples=500, confidence=0.95, seed=1,
                              lower_is_better=True)
    assert result.difference == pytest.approx(-2.0)
    assert (result.ci_low, result.ci_high) == (pytest.approx(-2.0), pytest.approx(-2.0))
    assert result.first_better_share == 1.0 and result.excludes_zero and result.resamples == 500


def test_paired_bootstrap_of_the_same_model_twice_straddles_zero():
    rng = np.random.default_rng(4)
    y = rng.normal(size=200)
    noisy_a, noisy_b = y + rng.normal(size=200), y + rng.normal(size=200)
    same = paired_bootstrap(_mae(y, noisy_a), _mae(y, noisy_a), rows=200, resamples=300, confidence=0.95, seed=2,
                            lower_is_better=True)
    assert same.difference == 0.0 and same.ci_low == 0.0 and same.ci_high == 0.0 and not same.excludes_zero
    close = paired_bootstrap(_mae(y, noisy_a), _mae(y, noisy_b), rows=200, resamples=300, confidence=0.95, seed=2,
                             lower_is_better=True)
    assert close.ci_low < 0 < close.ci_high  # two equally noisy models: no winner
    point = np.abs(noisy_a - y).mean() - np.abs(noisy_b - y).mean()
    assert close.difference == pytest.approx(point)

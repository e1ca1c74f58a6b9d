"""Is the best model really better than the next? Two paired comparisons on the same rows.

A leaderboard ranks by a mean; two means a hair apart say nothing unless the spread of their difference is known.
Both tests here pair the two models on the same evaluation units, which removes the variation the units share:

- across cross-validation folds, the Nadeau-Bengio corrected resampled t-test (Nadeau & Bengio 2003, "Inference
  for the generalization error"): the folds' training sets overlap, so the plain paired t-test's variance is too
  small and it finds differences that are not there; the correction inflates it by n_test / n_train;
- on the holdout, a paired bootstrap of the metric difference: both models scored on the same resampled rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

# The metric of a model on each of several draws: a (draws, rows) array of row positions in, one value per draw out.
RowScore = Callable[[np.ndarray], np.ndarray]
BLOCK_CELLS = 2_000_000


@dataclass(frozen=True)
class FoldComparison:
    """Nadeau-Bengio on k folds: the mean difference (first minus second), its t statistic and two-sided p."""

    mean_difference: float
    t: float
    p_value: float
    folds: int


@dataclass(frozen=True)
class HoldoutComparison:
    """Paired bootstrap: the metric difference (first minus second) on the holdout, its interval, and the share of
    resamples where the first model was the better one."""

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    first_better_share: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def corrected_resampled_t(first: Iterable[float], second: Iterable[float], *, test_share: float
                          ) -> FoldComparison:
    """Nadeau-Bengio's test on per-fold scores of two models over the same folds.

    `test_share` is n_test / n_train of one fold (1 / (k - 1) for k-fold cross-validation). With differences d_j:
    t = mean(d) / sqrt((1/k + test_share) * var(d)), var with k - 1 degrees of freedom, and t follows Student's t
    with k - 1 degrees of freedom. Identical differences on every fold (no spread) give p 0, or 1 when they are 0.
    """
    a, b = np.asarray(list(first), dtype="float64"), np.asarray(list(second), dtype="float64")
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need the same two or more folds for both models; got {len(a)} and {len(b)}")
    differences = a - b
    k = len(differences)
    mean = float(differences.mean())
    variance = float(differences.var(ddof=1))
    if variance <= 0.0:
        return FoldComparison(mean, math.copysign(math.inf, mean) if mean else 0.0, 0.0 if mean else 1.0, k)
    t = mean / math.sqrt((1.0 / k + test_share) * variance)
    p_value = float(2.0 * stats.t.sf(abs(t), df=k - 1))
    return FoldComparison(mean, float(t), p_value, k)


def paired_bootstrap(first_scores: RowScore, second_scores: RowScore, *, rows: int, resamples: int,
                     confidence: float, seed: int, lower_is_better: bool) -> HoldoutComparison:
    """The difference first - second of a metric over `resamples` bootstrap draws of the holdout's rows, each draw
    scoring both models on the same rows. `first_scores(draws)` takes a (count, rows) array of row positions and
    returns the metric on each draw. A draw where either metric is undefined (NaN) is left out."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK_CELLS // max(rows, 1)))  # draws held at once: 16 MB of row positions
    differences = []
    for start in range(0, resamples, block):
        draws = rng.integers(0, rows, size=(min(block, resamples - start), rows))
        differences.append(np.asarray(first_scores(draws)) - np.asarray(second_scores(draws)))
    values = np.concatenate(differences) if differences else np.array([])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        raise ValueError("the metric is undefined on every resample")
    everything = np.arange(rows)[None, :]
    point = float(np.asarray(first_scores(everything))[0] - np.asarray(second_scores(everything))[0])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    better = float(np.mean(values < 0 if lower_is_better else values > 0))
    return HoldoutComparison(point, float(low), float(high), confidence, better, len(values))

"""Target encoding for categories with many levels: each level becomes its smoothed target mean.

One-hot coding of hundreds of levels drowns a linear model in sparse columns, and ordinal codes give trees an
order that means nothing. The level's mean target carries what matters in one column. Fitted naively it leaks:
a row would see its own target in its level's mean, and rare levels would look perfectly predictive. So the
training rows get means computed out of fold (from the other folds' rows only), while new records get the
means of all training rows; both shrink a level towards the overall mean by `smoothing` pseudo-rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

OOF_FOLDS = 5


def target_columns(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The target as the columns to average: numbers as is; for classes, one indicator per class (binary: the
    second class only). Returns the matrix and a name suffix per column."""
    values = np.asarray(y)
    if values.dtype.kind in "fc" or (values.dtype.kind in "iu" and len(np.unique(values)) > 20):
        return values.astype("float64").reshape(-1, 1), [""]
    classes = np.unique(values)
    chosen = classes[1:] if len(classes) == 2 else classes
    matrix = np.column_stack([(values == label).astype("float64") for label in chosen])
    return matrix, ([""] if len(classes) == 2 else [f"={label}" for label in chosen])


class TargetMeans:
    """Smoothed target means per level group, centred on the overall mean (so an unseen level encodes as 0)
    and, for numbers, divided by the target's spread (so every model sees values of order one)."""

    def __init__(self, smoothing: float = 10.0):
        self.smoothing = smoothing
        self.table_: np.ndarray = np.zeros((0, 1))  # group -> encoded values
        self.scale_: npt.NDArray[np.float64] = np.ones(1)

    def fit(self, groups: np.ndarray, n_groups: int, targets: np.ndarray) -> TargetMeans:
        spread = targets.std(axis=0)
        numeric = targets.shape[1] == 1 and not np.isin(targets, (0.0, 1.0)).all()
        self.scale_ = np.where(spread > 0, spread, 1.0) if numeric else np.ones(targets.shape[1])
        self.table_ = self._means(groups, n_groups, targets)
        return self

    def _means(self, groups: np.ndarray, n_groups: int, targets: np.ndarray) -> np.ndarray:
        prior = targets.mean(axis=0) if len(targets) else np.zeros(targets.shape[1])
        counts = np.bincount(groups, minlength=n_groups).astype("float64")
        sums = np.column_stack([np.bincount(groups, weights=targets[:, j], minlength=n_groups)
                                for j in range(targets.shape[1])])
        means = (sums + self.smoothing * prior) / (counts[:, None] + self.smoothing)
        return (means - prior) / self.scale_

    def out_of_fold(self, groups: np.ndarray, n_groups: int, targets: np.ndarray, *, seed: int) -> np.ndarray:
        """Each row encoded by means learned on the other folds' rows only."""
        encoded = np.zeros((len(groups), targets.shape[1]))
        folds = np.random.default_rng(seed).permutation(len(groups)) % OOF_FOLDS
        for fold in range(OOF_FOLDS):
            held = folds == fold
            if held.all() or not held.any():
                continue
            table = self._means(groups[~held], n_groups, targets[~held])
            encoded[held] = table[groups[held]]
        return encoded

    def lookup(self, groups: np.ndarray) -> np.ndarray:
        """Rows' encodings; group -1 (a level never seen in training) encodes as the overall mean, 0."""
        known = groups >= 0
        encoded = np.zeros((len(groups), self.table_.shape[1]))
        encoded[known] = self.table_[groups[known]]
        return encoded


def names(column: str, suffixes: Sequence[str]) -> list[str]:
    return [f"{column}~target{suffix}" for suffix in suffixes]

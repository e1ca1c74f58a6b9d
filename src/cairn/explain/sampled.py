"""Shapley values by sampling, for a model without exact ones (k nearest neighbours): additive by construction.

Each input's columns are switched, one input at a time in a random order, from background rows to the explained
row; an input's contribution is the change in the mean answer when it switches. Along one order the changes add up
to f(row) minus the mean answer on the background, exactly, so any average over orders does too: only how the sum
is shared is estimated. Orders come in reversed pairs (antithetic sampling halves the variance), drawn from a fixed
seed, so one row gets the same explanation every time. The background is a fixed sample of the training rows the
model holds (kNN keeps them all).

The `shap` package's PermutationExplainer does the same per encoded column; working on groups of columns (one per
input) is what makes the contributions land on the user's inputs, and costs inputs, not encoded columns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cairn.explain.families import Contributions, Space

ORDERS = 8  # four reversed pairs
BACKGROUND_ROWS = 20
BLOCK_CELLS = 4_000_000  # floats built at a time (32 MB)


def background_rows(training: np.ndarray, *, rows: int = BACKGROUND_ROWS, seed: int = 0) -> np.ndarray:
    chosen = np.random.default_rng(seed).permutation(len(training))[:rows]
    return np.asarray(training, dtype="float64")[np.sort(chosen)]


def sampled_contributions(answer: Callable[[np.ndarray], np.ndarray], X: np.ndarray, groups: list[np.ndarray],
                          background: np.ndarray, *, space: Space, seed: int = 0) -> Contributions:
    """`answer` maps encoded rows to (rows, outputs); `groups` are the encoded column indices of each input.
    Returns contributions per group (rows, groups, outputs)."""
    rng = np.random.default_rng(seed)
    half = [rng.permutation(len(groups)) for _ in range(ORDERS // 2)]
    orders = half + [order[::-1] for order in half]
    width = len(background)
    outputs = np.atleast_2d(np.asarray(answer(background[:1]), dtype="float64").reshape(1, -1)).shape[1]
    base = np.asarray(answer(background), dtype="float64").reshape(width, outputs).mean(axis=0)
    values = np.zeros((len(X), len(groups), outputs))
    steps = len(groups) + 1
    per_row = steps * width * X.shape[1]
    block = max(1, BLOCK_CELLS // max(per_row, 1))
    for start in range(0, len(X), block):
        rows = X[start:start + block]
        for order in orders:
            mixed = np.broadcast_to(background, (len(rows), steps, width, X.shape[1])).copy()
            for step, group in enumerate(order, start=1):
                columns = groups[group]
                mixed[:, step:, :, columns] = rows[:, None, None, columns]
            answers = np.asarray(answer(mixed.reshape(-1, X.shape[1])), dtype="float64")
            means = answers.reshape(len(rows), steps, width, outputs).mean(axis=2)
            changes = np.diff(means, axis=1)  # (rows, groups in order, outputs)
            values[start:start + block][:, order, :] += changes / len(orders)
    return Contributions(np.broadcast_to(base, (len(X), outputs)).copy(), values, space,
                         note=f"contributions sampled over {len(orders)} orders of the inputs against "
                              f"{width} training rows: they add up exactly, each one is an estimate")

"""Permutation importance that fits its time: on a wide table, the inputs worth permuting are screened first.

Permutation importance costs one pass of the model per input and repeat: on 5,000 inputs, three repeats of a
60-row holdout took 80 s against an 18 s training budget. When the full measurement would not fit its allowance
(a share of the training budget, timed from one pass), the inputs are screened by how strongly the model's own
predictions vary with them (|r| for numbers, η for categories, on the same rows), and only the strongest are
permuted, as many times as the time allows. An input the predictions ignore cannot matter to the model, so the
screen loses little; the evaluation notes say how many inputs were examined and how many repeats were run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

IMPORTANCE_SHARE = 0.1
"""Of the training budget that permutation importance may take (18 s of budget: 1.8 s; ten minutes: 60 s). The
whole run should take about the budget the user set (issue 17, item 13): at a quarter, evaluation alone added 4.5 s
to an 18 s budget on a 5,000-column table, while a narrow table (Ames: 74 inputs, a few seconds) is measured in
full either way."""
REPEATS = 3  # as the unbounded measurement
MIN_EXAMINED = 20  # inputs examined however short the allowance: the report lists the top 20
MIN_ROWS = 500
"""Rows a pass may shrink to when even the fewest inputs would overrun the allowance: a pass's time follows its
rows, and a heavy model is slow on every row (flights at one minute: a LightGBM of 4,000 trees took 1.2 s a pass
on 2,000 rows, and its 17 inputs 28 s against the 6 s allowed)."""

Scorer = Callable[[Any, pd.DataFrame, np.ndarray], float]  # (estimator, features, target) -> higher is better


@dataclass(frozen=True)
class ImportancePlan:
    """How much of the measurement fits: every input REPEATS times, or the screened few fewer times."""

    columns: list[str]
    repeats: int
    allowed_s: float
    pass_s: float
    rows: int  # each pass's rows: those timed, or fewer when the fewest inputs would overrun on them all
    timed_rows: int

    def bounded(self, total: int) -> bool:
        return len(self.columns) < total or self.repeats < REPEATS or self.rows < self.timed_rows

    def note(self, total: int) -> str:
        rows = f" on {self.rows:,} rows" if self.rows < self.timed_rows else ""
        return (f"permutation importance examined {len(self.columns):,} of {total:,} inputs (the ones the model's "
                f"predictions vary with most), {self.repeats} repeat{'s' if self.repeats != 1 else ''} each{rows}, "
                f"to fit {self.allowed_s:.1f} s ({IMPORTANCE_SHARE:.0%} of the training budget; one pass takes "
                f"{self.pass_s * 1000:.0f} ms on {self.timed_rows:,} rows)")


def importance_plan(pipeline: Any, X: pd.DataFrame, *, budget_s: float, signal: Callable[[pd.DataFrame], np.ndarray]
                    ) -> ImportancePlan:
    """Every input with REPEATS repeats when that fits IMPORTANCE_SHARE of `budget_s`; else the inputs `signal`
    (the model's predictions, one column per output) varies with most, as many as fit, repeats cut first; and when
    even MIN_EXAMINED inputs (or all, when fewer) would overrun, each pass on fewer rows, down to MIN_ROWS."""
    allowed_s = IMPORTANCE_SHARE * budget_s if math.isfinite(budget_s) and budget_s > 0 else math.inf
    began = time.perf_counter()
    predicted = np.asarray(signal(X), dtype="float64")
    pass_s = max(time.perf_counter() - began, 1e-6)
    passes = allowed_s / pass_s
    columns = [str(c) for c in X.columns]
    if passes >= len(columns) * REPEATS:
        return ImportancePlan(columns, REPEATS, allowed_s, pass_s, len(X), len(X))
    repeats = REPEATS if passes >= MIN_EXAMINED * REPEATS * 4 else 1
    keep = max(MIN_EXAMINED, min(len(columns), int((passes - 1) // repeats)))  # the baseline takes a pass too
    chosen = set(screened(X, predicted.reshape(len(X), -1))[:keep])
    examined = [c for c in columns if c in chosen]
    needed = len(examined) * repeats + 1  # and the baseline's pass
    rows = len(X) if needed <= passes else max(min(MIN_ROWS, len(X)), int(len(X) * passes / needed))
    return ImportancePlan(examined, repeats, allowed_s, pass_s, rows, len(X))


def screened(X: pd.DataFrame, predicted: np.ndarray) -> list[str]:
    """Inputs by how strongly the predictions vary with them, strongest first: the largest |r| (numbers) or η
    (categories, missing as a level) over the prediction's columns. Linear in the inputs: no model pass."""
    strength: dict[str, float] = {}
    centred = predicted - predicted.mean(axis=0)
    spread = np.sqrt((centred**2).sum(axis=0))
    for name in X.columns:
        column = X[name]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            values = np.where(np.isnan(values), np.nanmean(values) if (~np.isnan(values)).any() else 0.0, values)
            values = values - values.mean()
            norm = math.sqrt(float(values @ values))
            r = np.abs(values @ centred) / np.where(spread * norm > 0, spread * norm, np.inf)
            strength[str(name)] = float(r.max()) if len(r) else 0.0
        else:
            codes, _ = pd.factorize(column.astype("object"), use_na_sentinel=False)
            counts = np.bincount(codes).astype("float64")
            sums = np.stack([np.bincount(codes, weights=centred[:, k]) for k in range(centred.shape[1])], axis=1)
            between = (sums**2 / counts[:, None]).sum(axis=0)
            eta = np.sqrt(np.clip(between / np.where(spread > 0, spread**2, np.inf), 0.0, 1.0))
            strength[str(name)] = float(eta.max()) if len(eta) else 0.0
    return sorted(strength, key=lambda name: -strength[name])


def permuted_importance(pipeline: Any, X: pd.DataFrame, y: np.ndarray, *, scorer: Scorer, plan: ImportancePlan,
                        seed: int) -> list[tuple[str, float]]:
    """Mean drop of the (higher-is-better) score when each planned input is shuffled, as scikit-learn's
    `permutation_importance` measures it, for the planned inputs only, on the planned number of rows."""
    rng = np.random.default_rng(seed)
    if plan.rows < len(X):
        kept = sample_rows(y, plan.rows, rng)
        X, y = X.iloc[kept], y[kept]
    baseline = scorer(pipeline, X, y)
    shuffled = X.copy()
    importances = []
    for name in plan.columns:
        original = shuffled[name]
        drops = []
        for _ in range(plan.repeats):
            shuffled[name] = original.to_numpy()[rng.permutation(len(X))]
            drops.append(baseline - scorer(pipeline, shuffled, y))
        shuffled[name] = original
        importances.append((name, float(np.mean(drops))))
    return importances


STRATIFY_AT_MOST = 50  # distinct target values up to which a sample keeps every one (classes, not a numeric target)


def sample_rows(y: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of about `rows` rows, drawn at random; for classes, each keeps its share and at least one row, so
    a metric that needs both classes (ROC AUC with 2 positives in 2,000 rows) stays defined on the sample."""
    if rows >= len(y):
        return np.arange(len(y))
    labels, codes = np.unique(np.asarray(y, dtype="object").astype(str), return_inverse=True)
    if len(labels) > STRATIFY_AT_MOST:
        return np.sort(rng.choice(len(y), rows, replace=False))
    kept = [rng.choice(members, min(len(members), max(1, round(rows * len(members) / len(y)))), replace=False)
            for members in (np.flatnonzero(codes == code) for code in range(len(labels)))]
    return np.sort(np.concatenate(kept))

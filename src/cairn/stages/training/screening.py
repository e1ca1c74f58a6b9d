"""Wide tables: a cheap univariate screen keeps the inputs the budget can pay for, before any candidate is timed.

Every later step pays per input: the encoder of each fold (1.7 s per fold for 240 rows x 5,000 columns), every
model fit, CatBoost most of all (its trees score every border of every column). A table of thousands of inputs
and a budget of seconds leaves no candidate able to finish, so the training stage used to refuse it. The screen
costs a few bincounts: each input's values in bins (numbers by rank, categories by level, missing apart) and the
share of the target's variance those bins explain, adjusted for the number of bins (adjusted eta squared), so a
many-levelled column earns nothing by chance. Kept: the best `inputs_affordable` of them.

Scored on the training rows (never the holdout): the screened inputs' cross-validation scores are slightly
optimistic, as after any selection made before the folds; the holdout, which the screen never saw, is not.
Univariate: an input that matters only together with another may be screened out. Tables of at most
`SCREEN_ABOVE_INPUTS` inputs are never screened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cairn.config.schema import FeatureSelection
from cairn.expr import parse
from cairn.stages.training.budget import Budget
from cairn.stages.training.crossval import TrainingData
from cairn.stages.training.importance import Selection
from cairn.stages.training.scope import SearchScope, narrowed

# Inputs x searched rows the search affords per second of budget, on one thread. Calibrated on 300 rows x 5,000
# columns (240 searched rows), the default candidates, 18 s: kept to 502 inputs, the stage took 17.7 s, linear,
# LightGBM and kNN competed and extra trees and CatBoost were priced out; the encoders and boosters cost about
# in proportion to the inputs, so more inputs would have pushed candidates out. 6,700 keeps ~500 there.
CELLS_PER_BUDGET_SECOND = 6_700
# Never screened at or below this many inputs: the encoders and boosters handle a few hundred columns in well
# under a second per fold at the rows a small budget searches, and every example (Ames: 81 columns) stays as it was.
SCREEN_ABOVE_INPUTS = 500
KEEP_AT_LEAST = 100  # a screen keeps at least this many inputs, however small the budget
SCREEN_ROWS = 20_000  # rows the screen scores on at most (a seeded sample beyond)
NUMBER_BINS = 10  # numbers binned by rank: catches a monotone or a non-monotone tie to the target alike
CHUNK_CELLS = 4_000_000  # rows x columns binned at once: bounds the screen's memory
LISTED = 10  # inputs named in the note


@dataclass(frozen=True)
class Screening:
    """What the screen kept and why."""

    kept: list[str]  # inputs, in the plan's order
    scores: dict[str, float]  # input -> adjusted eta squared (text inputs, always kept, are not scored)
    affordable: int  # inputs the budget affords at the searched rows
    rows: int  # rows scored
    forced: dict[str, str]  # input kept below the cut -> the derived feature that reads it

    @property
    def dropped(self) -> dict[str, str]:
        cut = self.cut
        return {name: f"screened out of a wide table: association {score:.3f} with the target, below the "
                      f"{len(self.kept)} kept (the lowest kept: {cut:.3f})"
                for name, score in self.scores.items() if name not in set(self.kept)}

    @property
    def cut(self) -> float:
        kept = [self.scores[name] for name in self.kept if name in self.scores and name not in self.forced]
        return min(kept, default=math.nan)

    def remarks(self, *, total: int, budget: Budget, searched_rows: int) -> list[str]:
        best = sorted((name for name in self.kept if name in self.scores), key=lambda n: -self.scores[n])[:LISTED]
        lines = [f"screened a wide table: kept {len(self.kept):,} of {total:,} inputs, those most associated with "
                 f"the target (adjusted eta squared of binned values on {self.rows:,} training rows), because a "
                 f"{budget.minutes:g} min budget affords about {self.affordable:,} inputs at {searched_rows:,} "
                 f"searched rows; tables of at most {SCREEN_ABOVE_INPUTS} inputs are never screened",
                 "screen's best: " + ", ".join(f"{name} {self.scores[name]:.3f}" for name in best)]
        lines += [f"kept {name} below the screen's cut: derived {by} reads it" for name, by in self.forced.items()]
        return lines


def inputs_affordable(*, budget_s: float, searched_rows: int) -> int:
    """Inputs the search can pay for: a budget in cells (rows x inputs), at least KEEP_AT_LEAST."""
    return max(KEEP_AT_LEAST, int(budget_s * CELLS_PER_BUDGET_SECOND / max(searched_rows, 1)))


def screened(scope: SearchScope, *, budget: Budget) -> tuple[SearchScope, Screening | None]:
    """The scope narrowed to the inputs the budget affords, when the table is wider; otherwise as it was."""
    plan = scope.plan
    inputs = [f.name for f in plan.features]
    searched_rows = scope.split.rows_searched()
    affordable = inputs_affordable(budget_s=budget.seconds, searched_rows=searched_rows)
    if len(inputs) <= max(affordable, SCREEN_ABOVE_INPUTS):
        return scope, None
    screening = screen_inputs(scope.data, keep=affordable)
    chosen = Selection(screening.kept, screening.dropped, {}, FeatureSelection(method="none"), screening.forced)
    return narrowed(scope, chosen), screening


def screen_inputs(data: TrainingData, *, keep: int) -> Screening:
    """The `keep` inputs most associated with the target, plus every text input and every input a derived
    feature reads; ties keep the plan's order."""
    plan = data.plan
    inputs = [f.name for f in plan.features]
    texts = set(plan.texts)
    reads = {name: parse(name, text, known_columns=inputs).columns for name, text in plan.derived.items()}
    rows = _rows(len(data.y), seed=data.seed)
    scored = [f for f in plan.features if f.name not in texts]
    frame = data.X.iloc[rows]
    scores = association(frame, numbers=[f.name for f in scored if f.kind == "number"],
                         categories=[f.name for f in scored if f.kind != "number"], target=_target(data, rows))
    ranked = sorted(scores, key=lambda name: -scores[name])  # stable: ties keep the plan's order
    chosen = set(ranked[:max(keep - len(texts), 1)]) | texts
    forced = {column: derived for derived, columns in reads.items() for column in columns if column not in chosen}
    kept = [name for name in inputs if name in chosen or name in forced]
    return Screening(kept, scores, keep, len(rows), forced)


def _rows(count: int, *, seed: int) -> np.ndarray:
    if count <= SCREEN_ROWS:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=SCREEN_ROWS, replace=False))


def _target(data: TrainingData, rows: np.ndarray) -> np.ndarray:
    """The target as columns to explain, centred: a regression target by rank (outliers do not decide), classes
    as one indicator column each."""
    y = data.target_for_fit(data.y[rows])
    if data.classes is None:
        ranks = rankdata(y)
        return (ranks - ranks.mean())[:, None]
    indicators = (np.asarray(y)[:, None] == np.arange(len(data.classes))[None, :]).astype("float64")
    return indicators - indicators.mean(axis=0)


def association(X: pd.DataFrame, *, numbers: list[str], categories: list[str], target: np.ndarray
                ) -> dict[str, float]:
    """Adjusted eta squared of `target` (rows x columns, centred) on each input's bins. Near 0 for noise
    whatever the number of bins, 1 for an input that fixes the target; negative when the bins explain less than
    chance."""
    scores: dict[str, float] = {}
    step = max(1, CHUNK_CELLS // max(len(X), 1))
    for start in range(0, len(numbers), step):
        chunk = numbers[start:start + step]
        codes = _number_bins(X[chunk].to_numpy(dtype="float64"))
        scores |= dict(zip(chunk, _adjusted_eta_squared(codes, target).tolist(), strict=True))
    for start in range(0, len(categories), step):
        chunk = categories[start:start + step]
        codes = _levels(X[chunk].to_numpy(dtype=object))
        scores |= dict(zip(chunk, _adjusted_eta_squared(codes, target).tolist(), strict=True))
    return scores


def _number_bins(values: np.ndarray) -> np.ndarray:
    """Per column, NUMBER_BINS bins by rank (ties share a bin), missing values in a bin of their own."""
    missing = np.isnan(values)
    present = (~missing).sum(axis=0)
    ranks = rankdata(np.where(missing, np.inf, values), method="min", axis=0).astype(np.int64) - 1
    bins = np.minimum(ranks * NUMBER_BINS // np.maximum(present, 1), NUMBER_BINS - 1)
    return np.where(missing, NUMBER_BINS, bins)


def _levels(values: np.ndarray) -> np.ndarray:
    """Per column, one code per level (0, 1, ...), missing values a level of their own: one hash of the whole
    block, then each column's (column, level) pairs numbered in order."""
    found, uniques = pd.factorize(values.ravel(), use_na_sentinel=True)
    levels = len(uniques) + 1
    keyed = np.where(found < 0, len(uniques), found).reshape(values.shape) + np.arange(values.shape[1]) * levels
    _, numbered = np.unique(keyed, return_inverse=True)
    numbered = numbered.reshape(values.shape)
    return numbered - numbered.min(axis=0)


def _adjusted_eta_squared(codes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per column of `codes` (rows x inputs, small non-negative ints): the share of the target's variance the
    group means explain, adjusted like R squared for the groups used. One bincount per target column."""
    rows, width = codes.shape
    sizes = codes.max(axis=0) + 1
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = (codes + offsets[None, :]).ravel()  # row-major: row i, input j -> offsets[j] + code
    total_groups = int(sizes.sum())
    counts = np.bincount(flat, minlength=total_groups)
    between = np.zeros(total_groups)
    for column in target.T:
        sums = np.bincount(flat, weights=np.repeat(column, width), minlength=total_groups)
        between += np.divide(sums ** 2, counts, out=np.zeros(total_groups), where=counts > 0)
    explained = np.add.reduceat(between, offsets)
    groups = np.add.reduceat((counts > 0).astype(np.int64), offsets)
    total = float((target ** 2).sum())
    if total <= 0:
        return np.zeros(width)
    eta_squared = explained / total
    free = rows - groups
    adjusted = 1 - (1 - eta_squared) * (rows - 1) / np.maximum(free, 1)
    return np.where(free > 0, adjusted, -1.0)

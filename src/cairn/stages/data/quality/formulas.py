"""Target leakage by arithmetic: the target computed from two columns, as a price per square foot times the area,
a sale-to-list percentage times the list price / 100, or the midpoint of a low and a high price.

Trying every formula on every pair costs p² fits: 120,000 for 200 columns. The screen is linear in p instead.
One of the two columns of x*z, x/z or x±z carries a good share of the target's variance on its own (when
log y = log x + log z with x and z unrelated, one of them explains at least half of log y), so the first column
is taken among the `FIRST_COLUMNS` most correlated with the target or log(target). For each of them, the partner
every formula needs is computed (y/x for x*z, x/y for x/z, y-x for x+z, ...) and correlated with every column at
once, one matrix product on a sample of `SCREEN_ROWS` rows; only its `PARTNERS_TRIED` best matches are fitted
exactly. At most `MAX_PAIR_FITS` exact fits, however wide the table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIRST_COLUMNS = 16
PARTNERS_TRIED = 2
SCREEN_ROWS = 5_000
FORMULA_R2 = 0.999
"""A formula reproducing the target this well (R², no fitted constants) is computed from it, not a coincidence."""
MIN_ROWS = 30

Operation = Callable[[np.ndarray, np.ndarray], np.ndarray]
PARTNER_NEEDED: dict[str, Operation] = {
    "product": lambda x, y: y / x,
    "x / z": lambda x, y: x / y,
    "z / x": lambda x, y: y * x,
    "x + z": lambda x, y: y - x,
    "mean": lambda x, y: 2 * y - x,
    "x - z": lambda x, y: x - y,
    "z - x": lambda x, y: y + x,
}
"""For each kind of formula, the column z would have to be (up to scale) for it to give the target y."""
FORMULAS: dict[str, list[tuple[str, Operation]]] = {
    "product": [("x × z", lambda x, z: x * z), ("x × z / 100", lambda x, z: x * z / 100)],
    "x / z": [("x / z", lambda x, z: x / z)],
    "z / x": [("z / x", lambda x, z: z / x)],
    "x + z": [("x + z", lambda x, z: x + z)],
    "mean": [("(x + z) / 2", lambda x, z: (x + z) / 2)],  # a midpoint: of a low and a high price, of two readings
    "x - z": [("x - z", lambda x, z: x - z)],
    "z - x": [("z - x", lambda x, z: z - x)],
}
MAX_PAIR_FITS = FIRST_COLUMNS * PARTNERS_TRIED * sum(len(formulas) for formulas in FORMULAS.values())


@dataclass(frozen=True)
class Formula:
    """Two columns whose arithmetic gives the target: `text` reads like 'A × B = Sale_Price'."""

    columns: tuple[str, str]
    text: str
    r2: float
    rows: int


@dataclass(frozen=True)
class FormulaSearch:
    """What the search found, and how many exact pair fits it took (bounded by `MAX_PAIR_FITS`)."""

    formulas: list[Formula]
    pair_fits: int


def target_formulas(numbers: pd.DataFrame, y: np.ndarray, *, target: str, seed: int = 0) -> FormulaSearch:
    """Formulas of two numeric columns that reproduce the regression target `y` (aligned with `numbers`' rows)
    with R² above `FORMULA_R2`; columns that reproduce it alone are left to the one-column check."""
    if len(y) > SCREEN_ROWS:
        picked = np.sort(np.random.default_rng(seed).choice(len(y), size=SCREEN_ROWS, replace=False))
        numbers, y = numbers.iloc[picked], y[picked]
    values = numbers.to_numpy(dtype="float64")
    names = [str(name) for name in numbers.columns]
    standard = _standardised(values)
    usable = (np.sum(np.isfinite(values), axis=0) >= MIN_ROWS) & np.any(standard != 0, axis=0)
    alone = np.abs(standard.T @ _standardised(y[:, None])[:, 0]) / len(y)
    usable &= alone ** 2 < FORMULA_R2
    first = _first_columns(values, standard, y, usable)
    found: dict[frozenset[str], Formula] = {}
    fits = 0
    sst = float(np.sum((y - y.mean()) ** 2))
    for i in first:
        x = values[:, i]
        for kind, partner_of in PARTNER_NEEDED.items():
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                needed = partner_of(x, y)
            match = np.abs(standard.T @ _standardised(needed[:, None])[:, 0])
            match[~usable | (np.arange(len(names)) == i)] = -1
            for j in np.argsort(-match)[:PARTNERS_TRIED]:
                if match[j] <= 0:
                    continue
                for text, operation in FORMULAS[kind]:
                    fits += 1
                    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                        computed = operation(x, values[:, j])
                    r2, rows = _reproduction_r2(computed, y, sst)
                    pair = frozenset((names[i], names[j]))
                    if r2 > FORMULA_R2 and rows >= MIN_ROWS and (pair not in found or found[pair].r2 < r2):
                        x_name, z_name = names[i], names[j]
                        if text.startswith("x × z") and alone[j] < alone[i]:  # the weaker alone, the suspect, first
                            x_name, z_name = z_name, x_name
                        found[pair] = Formula((x_name, z_name), _written(text, x_name, z_name, target), r2, rows)
    return FormulaSearch(sorted(found.values(), key=lambda formula: -formula.r2), fits)


def _first_columns(values: np.ndarray, standard: np.ndarray, y: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """The columns most related to the target, on its scale or on the log scale (products and ratios)."""
    relation = np.abs(standard.T @ _standardised(y[:, None])[:, 0]) / len(y)
    if (y > 0).all():
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(values > 0, np.log(np.where(values > 0, values, 1)), np.nan)
        log_relation = np.abs(_standardised(logs).T @ _standardised(np.log(y)[:, None])[:, 0]) / len(y)
        relation = np.maximum(relation, log_relation)
    relation = np.where(usable, relation, -1)
    return np.array([i for i in np.argsort(-relation)[:FIRST_COLUMNS] if relation[i] >= 0], dtype="int64")


def _standardised(values: np.ndarray) -> np.ndarray:
    """Columns as z-scores with missing and infinite values at 0 (the mean): correlations by one matrix product."""
    values = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its z-scores are all 0
        scale = np.nanstd(values, axis=0)
        z = (values - np.nanmean(values, axis=0)) / np.where(scale > 0, scale, np.inf)
    standard: np.ndarray = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    return standard


def _reproduction_r2(computed: np.ndarray, y: np.ndarray, sst: float) -> tuple[float, int]:
    """R² of the formula's values taken as they are, as predictions of the target (no fitted constants)."""
    present = np.isfinite(computed)
    rows = int(present.sum())
    if rows < MIN_ROWS or sst <= 0:
        return -np.inf, rows
    target = y[present]
    spread = float(np.sum((target - target.mean()) ** 2))
    if spread <= 0:
        return -np.inf, rows
    return 1 - float(np.sum((target - computed[present]) ** 2)) / spread, rows


def _written(text: str, x: str, z: str, target: str) -> str:
    """'x × z / 100' with the columns' names, as an equation giving the target."""
    named = text.replace("x", "\0").replace("z", z).replace("\0", x)
    return f"{named} = {target}"

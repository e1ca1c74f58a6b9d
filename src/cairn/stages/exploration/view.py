"""What the columns are: each feature's kind and the sample seen as numbers, computed once and shared.

Insights and figures ask the same questions of the table (which columns are numeric, how each relates to the
target, which levels a categorical column charts), so ``View`` answers each lazily and at most once; pooling a
categorical column's rare levels lives here too, since sentences and charts must agree on what "other" holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cairn.stages.data.quality.tables import float_block, number_tallies

TOP_LEVELS = 10  # levels drawn per categorical column, the rest pooled as "other"
MAX_CHARTED_COLUMNS = 60
"""Columns of each kind charted in the grids: a 5,000-column table drew 420 figures in 116 s, which nobody reads.
Beyond it, the most related to the target are charted (a seeded sample when nothing ranks them)."""
MAX_CORRELATED_COLUMNS = 150
"""Numeric columns whose pairwise correlations are computed (the heatmap, the strong pairs): the work grows with
the square of the columns, so beyond it only the most related to the target are paired."""


@dataclass(frozen=True)
class _Kinds:
    numeric: list[str]
    categorical: list[str]
    other: list[str]  # dates, durations, ...: neither charted nor correlated


def is_numeric(dtype: object) -> bool:
    """Booleans are numbers to numpy but yes/no answers to a person, so they are charted as categories."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_categorical(dtype: object) -> bool:
    return (
        pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )


def column_kinds(table: pd.DataFrame, target: str, column_types: Mapping[str, str] | None = None) -> _Kinds:
    """Each column by its dtype, but a date the data stage read from text (`column_types`) is a date, not a
    category of thousands of levels that looks like an identifier."""
    numeric, categorical, other = [], [], []
    for name in table.columns:
        if name == target:
            continue
        dtype = table[name].dtype
        if column_types is not None and column_types.get(str(name)) == "date":
            other.append(name)
        elif is_numeric(dtype):
            numeric.append(name)
        elif _is_categorical(dtype):
            categorical.append(name)
        else:
            other.append(name)
    return _Kinds(numeric=numeric, categorical=categorical, other=other)


class View:
    """The sample seen as numbers: float matrix, target, relations; computed lazily, each at most once."""

    def __init__(
        self, *, table: pd.DataFrame, sample: pd.DataFrame, target: str, problem: str, kinds: _Kinds, seed: int
    ) -> None:
        self.table, self.sample, self.target = table, sample, target
        self.problem, self.kinds, self.seed = problem, kinds, seed
        self.numbers = _as_floats(sample[kinds.numeric])
        self.missing_share = table.isna().mean()
        self.y_numeric: pd.Series | None = None
        if problem == "regression":
            self.y_numeric = sample[target].astype("float64").replace([np.inf, -np.inf], np.nan)
        self.tallies = number_tallies(self.numbers)  # distinct values, top count, missing: one sort, every column
        usable = set(self.tallies.distinct.index[(self.tallies.distinct > 1).to_numpy()])
        self.usable = [c for c in kinds.numeric if c in usable]
        self._corr: pd.DataFrame | None = None
        self._relevance: pd.Series | None = None
        self._categorical_relevance: pd.Series | None = None
        self._levels: dict[str, _Levels] = {}

    @property
    def correlation(self) -> pd.DataFrame:
        """Pearson r between usable numeric features (constant and empty columns have no correlation), at most
        MAX_CORRELATED_COLUMNS of them (see `correlated`)."""
        if self._corr is None:
            self._corr = self.numbers[self.correlated].corr() if self.correlated else pd.DataFrame()
        return self._corr

    @cached_property
    def correlated(self) -> list[str]:
        """The usable numeric features that are paired: all of them, or the most related to the target."""
        return _most_telling(self.usable, self.relevance, cap=MAX_CORRELATED_COLUMNS, seed=self.seed)

    @cached_property
    def charted_numeric(self) -> list[str]:
        """The numeric columns the grids draw, in table order."""
        return _most_telling(self.kinds.numeric, self.relevance, cap=MAX_CHARTED_COLUMNS, seed=self.seed)

    @cached_property
    def charted_categorical(self) -> list[str]:
        """The categorical columns the grids draw, in table order."""
        return _most_telling(self.kinds.categorical, self.categorical_relevance, cap=MAX_CHARTED_COLUMNS,
                             seed=self.seed)

    def sampling(self) -> list[str]:
        """Sentences saying which columns were charted or paired when a cap applied (none on a narrow table)."""
        said = []
        for kind, names, charted in (("numeric", self.kinds.numeric, self.charted_numeric),
                                     ("categorical", self.kinds.categorical, self.charted_categorical)):
            if len(charted) < len(names):
                said.append(f"{len(names):,} {kind} columns: the grids chart {len(charted)} of them "
                            f"({_chosen_by(self, kind)}), to keep exploration bounded.")
        if len(self.correlated) < len(self.usable):
            said.append(f"Correlations between numeric columns are computed for the {len(self.correlated)} most "
                        f"related to {self.target} of {len(self.usable):,}; pairs among the others are not "
                        "checked.")
        return said

    @property
    def relevance(self) -> pd.Series:
        """Signed r with the target (regression) or η across classes (classification), strongest first."""
        if self._relevance is None:
            if not self.usable:
                relevance = pd.Series(dtype="float64")
            elif self.y_numeric is not None:
                relevance = _correlations_with(self.numbers[self.usable], self.y_numeric)
            else:
                relevance = _correlation_ratios(self.numbers[self.usable], self.sample[self.target])
            relevance = relevance.dropna()
            self._relevance = relevance.reindex(relevance.abs().sort_values(ascending=False).index)
        return self._relevance

    @property
    def categorical_relevance(self) -> pd.Series:
        """η of a numeric target across each categorical column's charted levels, strongest first."""
        if self._categorical_relevance is None:
            self._categorical_relevance = (
                _categorical_relevance(self) if self.y_numeric is not None else pd.Series(dtype="float64")
            )
        return self._categorical_relevance

    def levels(self, name: str) -> _Levels:
        """A categorical column's charted levels, computed once: insights, box plots and bars all use them."""
        if name not in self._levels:
            self._levels[name] = _lumped_levels(self.sample[name])
        return self._levels[name]

    def classes(self) -> pd.Series:
        """Class counts on the whole table, largest first."""
        return self.table[self.target].astype("object").value_counts(dropna=True)


def _as_floats(numbers: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns as one float64 block, infinities missing: cast column by column, 5,000 of them took
    most of a second; plain numpy columns are cast at once (the same values)."""
    if all(isinstance(dtype, np.dtype) for dtype in numbers.dtypes):
        return float_block(numbers)
    return numbers.astype("float64").replace([np.inf, -np.inf], np.nan)


def _correlations_with(numbers: pd.DataFrame, y: pd.Series) -> pd.Series:
    """Pearson r of each column with `y` on the rows where both are present, as `DataFrame.corrwith` (which
    calls Series.corr once per column: 4,000 columns took half a second); complete columns in one product."""
    target = y.to_numpy(dtype="float64")
    values = numbers.to_numpy(dtype="float64")
    complete = ~np.isnan(values).any(axis=0) if not np.isnan(target).any() else np.zeros(values.shape[1], bool)
    r = np.full(values.shape[1], np.nan)
    if complete.any() and len(target) > 1:
        block = values[:, complete] - values[:, complete].mean(axis=0)
        centred = target - target.mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            r[complete] = np.clip(centred @ block / np.sqrt((block * block).sum(axis=0) * (centred @ centred)),
                                  -1.0, 1.0)
    for index in np.flatnonzero(~complete):
        r[index] = numbers.iloc[:, index].corr(y)
    return pd.Series(r, index=numbers.columns, dtype="float64")


def _most_telling(names: list[str], ranking: pd.Series, *, cap: int, seed: int) -> list[str]:
    """`names` when there are at most `cap`, else the `cap` ranked highest (strongest relation first), topped up
    with a seeded sample of the unranked ones; in table order either way."""
    if len(names) <= cap:
        return list(names)
    wanted = set(names)
    chosen = [name for name in ranking.index if name in wanted][:cap]
    if len(chosen) < cap:
        taken = set(chosen)
        rest = [name for name in names if name not in taken]
        picked = np.random.default_rng(seed).choice(len(rest), size=cap - len(chosen), replace=False)
        chosen += [rest[i] for i in picked]
    kept = set(chosen)
    return [name for name in names if name in kept]


def _chosen_by(view: View, kind: str) -> str:
    ranked = view.relevance if kind == "numeric" else view.categorical_relevance
    if not len(ranked):
        return "a seeded random sample"
    measure = "r" if kind == "numeric" and view.y_numeric is not None else "η"
    return f"the most related to {view.target} by {measure}"


def _categorical_relevance(view: View) -> pd.Series:
    """Lumped levels, as charted: with hundreds of rare levels η would measure overfitting, not relation."""
    assert view.y_numeric is not None
    keep = view.y_numeric.notna().to_numpy()
    y = view.y_numeric.to_numpy()[keep]
    total = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    etas = {}
    for name in view.kinds.categorical:
        levels = view.levels(name)
        codes = levels.codes[keep]
        if len(levels.labels) > 1 and total > 0:
            # Same η as _correlation_ratios, with bincount: a groupby per column was the slow part here.
            counts = np.bincount(codes, minlength=len(levels.labels))
            sums = np.bincount(codes, weights=y, minlength=len(levels.labels))
            between = float((sums[counts > 0] ** 2 / counts[counts > 0]).sum() - y.sum() ** 2 / len(y))
            etas[name] = math.sqrt(min(max(between / total, 0.0), 1.0))
    return pd.Series(etas, dtype="float64").sort_values(ascending=False)


def _correlation_ratios(values: pd.DataFrame, groups: pd.Series) -> pd.Series:
    """η per column: the share of a column's spread explained by the groups (0 none, 1 all), as a root.

    Unlike r it needs no order on the groups, so it ranks numeric features by how well they separate classes.
    """
    keep = groups.notna().to_numpy()
    values, groups = values[keep], groups[keep].astype("object")
    if values.empty:
        return pd.Series(dtype="float64")
    means = values.groupby(groups, observed=True).mean()
    counts = values.groupby(groups, observed=True).count()
    overall = values.mean()
    between = (counts * (means - overall) ** 2).sum()
    total = ((values - overall) ** 2).sum()
    return np.sqrt((between / total).where(total > 0)).clip(upper=1.0)


@dataclass(frozen=True)
class _Levels:
    """A categorical column as charted: each row's bar index, bar labels, and rows per bar."""

    codes: np.ndarray  # per row, an index into labels
    labels: list[str]  # top levels by count, then "other (n levels)", then "(missing)", each only if present
    counts: np.ndarray
    kinds: list[str]  # "level", "other" or "missing", per label
    n_levels: int  # distinct non-missing values, pooled or not


def _lumped_levels(column: pd.Series) -> _Levels:
    """Top levels kept, the rest pooled, missing named: what a bar chart or box plot shows.

    Factorize + bincount rather than value_counts on text: on a 200,000-row sample this ran 40 times slower.
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = np.argsort(-counts, kind="stable")
    top, rest = order[:TOP_LEVELS], order[TOP_LEVELS:]
    mapping = np.empty(len(uniques) + 1, dtype=np.intp)  # last slot: the missing sentinel -1
    mapping[top] = np.arange(len(top))
    labels, kinds = [str(uniques[i]) for i in top], ["level"] * len(top)
    if len(rest):
        mapping[rest] = len(labels)
        labels.append(f"other ({len(rest)} levels)")
        kinds.append("other")
    if (codes < 0).any():
        mapping[-1] = len(labels)
        labels.append("(missing)")
        kinds.append("missing")
    lumped = mapping[codes]
    return _Levels(lumped, labels, np.bincount(lumped, minlength=len(labels)), kinds, len(uniques))

"""The encoder inside every fitted pipeline: raw columns in, a float matrix out, the same in training and serving.

One transformer instead of a ColumnTransformer of imputers, clippers, scalers and encoders: it learns everything a
record needs in one `fit`, and `transform` is plain numpy plus dictionary look-ups, so one row takes microseconds
rather than the tens of milliseconds that per-column pandas and scikit-learn validation cost on the hot path.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Container, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cairn.estimators.shapes import (
    TEXT_PARTS,
    one_hot_bins,
    quantile_edges,
    text_counts,
    yeo_johnson,
    yeo_johnson_lambdas,
)
from cairn.estimators.target_means import TargetMeans, target_columns
from cairn.estimators.target_means import names as target_names
from cairn.estimators.text_values import MISSING_MARKERS

if TYPE_CHECKING:
    from cairn.expr import Expression

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
Encoded = Any  # a float matrix: numpy's, or scipy's CSR for many rows one-hot on every level
LARGE_BATCH_ROWS = 256  # above this, pandas' vectorised map beats a Python loop
FLOAT32_ROWS = 100_000
"""An encoder fitted on more rows than this outputs float32: 800,000 rows one-hot into 300 columns are 1.9 GB as
float64, and every model cairn fits takes float32 (trees bin the values anyway)."""
# Every level of a many-level category gets its own slope on each of the numbers most related to the target (a
# mixed model's random slopes: a lecturer rated harsher by older students), weighted LEVEL_SLOPES against the
# level's own column, so a ridge shrinks a slope 1/0.3**2 = 11 times as hard as a level (slopes vary less than
# levels). On lme4's InstEval a ridge on every level scored a 5-fold RMSE of 1.206; with slopes weighted 0.3, 1.198;
# 0.5, 1.200; 0.7, 1.208.
LEVEL_SLOPES = 0.3
# Numbers a level gets a slope on, those most correlated with the target (all of them up to this many): the columns
# grow by levels x numbers. Correlation misses a number whose levels' slopes cancel out; a cheap first screen.
MAX_SLOPE_NUMBERS = 8
# A number whose spread is below this share of its size is constant as stored (0.1 in every row has a float spread
# of 1e-15): scaling it by that spread would blow rounding up into values of order one.
CONSTANT_SPREAD = 1e-9
DATE_PARTS = ("year", "month", "day", "weekday")
UnseenLevel = Literal["rare", "prior", "none", "code"]  # see TabularEncoder.unseen_level
_SPACES = re.compile(r"\s+")


def clean_text(value: object, *, normalize: bool = True) -> str | None:
    """Trim text; 'N/A', 'null', '' and NaN all mean missing. Normalised: case and inner spaces folded too,
    so 'North_Ames', ' north_ames' and 'NORTH_AMES' are one level."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    if text.casefold() in MISSING_MARKERS:
        return None
    return _SPACES.sub(" ", text).casefold() if normalize else text


# a whole number as Python writes an int or a float: at most 15 digits, so every such float is exact (2**53 has 16)
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}(\.0)?")
WHOLE_FLOATS_BELOW = 1e15  # the floats _WHOLE_NUMBER reads as whole numbers: below this, every one is exact


@overload
def known_spelling(key: str, known: Container[str | None]) -> str: ...
@overload
def known_spelling(key: None, known: Container[str | None]) -> None: ...
@overload
def known_spelling(key: str | None, known: Container[str | None]) -> str | None: ...
def known_spelling(key: str | None, known: Container[str | None]) -> str | None:
    """`key` as `known` spells it when it is a whole number written the other way, else `key` itself. pandas reads
    a column of whole numbers as floats in a chunk where one is missing, so a postal code 98115 learned as '98115'
    comes back as '98115.0' (and the reverse). Only a key `known` lacks is looked at: the keys a fit learned, and
    models saved with either spelling, stay as they are."""
    if key is None or key in known:
        return key
    other = respelt_whole_number(key)
    return other if other is not None and other in known else key


def respelt_whole_number(key: str) -> str | None:
    """A whole number's other spelling ('3' for '3.0', '3.0' for '3'); None for any other text."""
    whole = _WHOLE_NUMBER.fullmatch(key)
    if whole is None:
        return None
    return key[:-2] if whole.group(1) else key + ".0"


def one_spelling(key: str | None) -> str | None:
    """'3.0' as '3', any other key as it is: one key for a whole number that nothing known spells, whichever way a
    chunk read it."""
    if key is not None and key.endswith(".0") and (whole := respelt_whole_number(key)) is not None:
        return whole
    return key


class TabularEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # untyped base class
    """Numbers: impute, flag missing, clip, reshape, scale. Dates: calendar parts. Text: counts. Categories:
    clean, group rare, encode.

    Parameters follow scikit-learn: `__init__` stores them, `fit` learns attributes ending in `_`.
    `one_hot=False` gives one code per category column (for trees); unseen levels at serving time fall into
    the rare-level code (or all zeros when one-hot with no rare group), never an error. A category with more
    than `max_levels` frequent levels is target-encoded when `fit` gets a target (see `cairn.target_encoding`):
    `fit_transform` returns out-of-fold means for the training rows, `transform` the means of all of them.
    `column_impute` holds (column, strategy) pairs: median, mean, mode, constant, indicator or drop_rows
    (rows were dropped in training; a request still needs a value, so it gets the median).
    `power` applies Yeo-Johnson to skewed numbers; `bins` adds one-hot quantile bins (one-hot models only).
    `float32_rows`: fitted on more rows than this, the output is float32 (`dtype_`), half the memory of float64;
    None keeps float64 always. Encoders pickled before it load with float64, and answer as they did.
    `target_means=False` codes every level instead (CatBoost or LightGBM learning categories with their own
    statistics); with `one_hot`, every level gets its own column, and more than LARGE_BATCH_ROWS rows come out as
    a scipy CSR matrix (`sparse_linear`).
    """

    def __init__(self, numeric: tuple[str, ...] = (), categorical: tuple[str, ...] = (), dates: tuple[str, ...] = (),
                 texts: tuple[str, ...] = (), *, impute: str = "median", fill_value: float = 0.0,
                 missing_level: bool = True, column_impute: tuple[tuple[str, str], ...] = (), normalize: bool = True,
                 clip: str | None = None, clip_factor: float = 3.0, power: bool = False,
                 bins: tuple[tuple[str, int], ...] = (), scale: bool = False, one_hot: bool = False,
                 max_levels: int = 30, min_frequency: int = 5, smoothing: float = 10.0, seed: int = 0,
                 float32_rows: int | None = FLOAT32_ROWS, target_means: bool = True, slopes: float = 0.0):
        self.numeric = numeric
        self.categorical = categorical
        self.dates = dates
        self.texts = texts
        self.impute = impute
        self.fill_value = fill_value
        self.missing_level = missing_level
        self.column_impute = column_impute
        self.normalize = normalize
        self.clip = clip
        self.clip_factor = clip_factor
        self.power = power
        self.bins = bins
        self.scale = scale
        self.one_hot = one_hot
        self.max_levels = max_levels
        self.min_frequency = min_frequency
        self.smoothing = smoothing
        self.seed = seed
        self.float32_rows = float32_rows
        self.target_means = target_means
        self.slopes = slopes

    # fitting ----------------------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: object = None) -> TabularEncoder:
        self._fit(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: object = None, **fit_params: object) -> Encoded:
        """Fit, then encode the training rows with out-of-fold target means: no row sees its own target."""
        oof = self._fit(X, y)
        return self._transform(X, oof)

    def _fit(self, X: pd.DataFrame, y: object) -> dict[int, np.ndarray]:
        """Learn every attribute; returns the out-of-fold target encodings of the training rows by column."""
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.dtype_ = "float32" if self.float32_rows is not None and len(X) > self.float32_rows else "float64"
        strategies = dict(self.column_impute)
        numbers = self._numbers(X, self.numeric)
        self.fill_ = self._fill_values(numbers, [strategies.get(n, self.impute) for n in self.numeric])
        missing = np.isnan(numbers)
        forced = np.array([strategies.get(n) == "indicator" for n in self.numeric], dtype=bool)
        self.flagged_ = np.flatnonzero(missing.any(axis=0) | forced) if numbers.shape[1] else np.array([], int)
        filled = np.where(missing, self.fill_, numbers)
        if self.clip and len(filled):
            self.lower_, self.upper_ = self._fences(filled)
            filled = np.clip(filled, self.lower_, self.upper_)
        targets = target_columns(np.asarray(y))[0] if y is not None and self.power else None
        self.powered_, self.lambdas_ = (yeo_johnson_lambdas(filled, targets=targets, seed=self.seed)
                                        if self.power and len(filled) else (np.array([], int), np.array([])))
        names = dict(zip(self.numeric, range(len(self.numeric)), strict=True))
        self.bin_edges_ = ([(names[name], quantile_edges(filled[:, names[name]], count))
                            for name, count in self.bins if name in names] if self.one_hot and len(filled) else [])
        days = self._numbers(X, self.dates)
        self.date_fill_ = self._fill_values(days, ["median"] * days.shape[1])
        self.date_flagged_ = np.flatnonzero(np.isnan(days).any(axis=0)) if days.shape[1] else np.array([], int)
        self.date_origin_ = np.floor(np.where(np.isnan(days), np.inf, days).min(axis=0, initial=np.inf))
        self.date_origin_[~np.isfinite(self.date_origin_)] = 0.0  # a date column missing in every row
        if self.scale and len(filled):
            dense = self._dense(filled, np.where(np.isnan(days), self.date_fill_, days), X)
            self.mean_ = dense.mean(axis=0)
            spread = dense.std(axis=0)
            self.scale_ = np.where(_varies(spread, self.mean_), spread, 1.0)
        oof = self._fit_categories(X, y, strategies)
        self.slopes_ = self._learn_slopes(self._shaped(filled), y)
        return oof

    def _fit_categories(self, X: pd.DataFrame, y: object, strategies: dict[str, str]) -> dict[int, np.ndarray]:
        """Codes for every category column; target means instead for those with too many levels to code."""
        # one-hot without a target to encode by: the most frequent levels, the rest grouped; else (or one-hot on
        # every level, without target means) every level
        limit = self.max_levels if self.one_hot and self.target_means and y is None else 100_000
        self.codes_ = [self._learn_levels(X[name], strategies.get(name), limit) for name in self.categorical]
        self.level_counts_ = [len(set(codes.values())) for codes in self.codes_]
        self.target_means_: dict[int, TargetMeans] = {}
        self.target_suffixes_: list[str] = []
        many = self._many_levels()
        if y is None or not many or not self.target_means:  # without target means: every level its code
            return {}
        targets, self.target_suffixes_ = target_columns(np.asarray(y))
        oof = {}
        for index in many:
            groups = self._groups(np.asarray(X[self.categorical[index]], dtype=object), self.codes_[index])
            means = TargetMeans(self.smoothing).fit(groups, self._group_count(index), targets)
            self.target_means_[index] = means
            oof[index] = means.out_of_fold(groups, self._group_count(index), targets, seed=self.seed + index)
        return oof

    def _many_levels(self) -> list[int]:
        """Categories of more than max_levels known levels (the missing and rare-level groups aside)."""
        return [index for index, codes in enumerate(self.codes_)
                if sum(level not in (None, OTHER_LEVEL) for level in codes) > self.max_levels]

    def _learn_slopes(self, numbers: np.ndarray, y: object) -> list[tuple[int, int]]:
        """(category, number) pairs whose every level gets a slope: with `slopes` and one-hot on every level, each
        category of more than max_levels levels with the MAX_SLOPE_NUMBERS numbers (as reshaped) most correlated
        with the target (for classes, with any class's indicator); a constant number has none."""
        many = self._many_levels()
        if not (self.slopes and self.one_hot and not self.target_means and many and y is not None
                and numbers.shape[1]):
            return []
        targets = target_columns(np.asarray(y))[0]
        varying = _varies(numbers.std(axis=0), numbers.mean(axis=0))
        strength = np.where(varying, np.abs(_standardised(numbers).T @ _standardised(targets)).max(axis=1), -1.0)
        chosen = [int(n) for n in np.argsort(-strength, kind="stable")[:MAX_SLOPE_NUMBERS] if varying[n]]
        return [(category, number) for category in many for number in sorted(chosen)]

    def _group_count(self, index: int) -> int:
        return max(self.codes_[index].values(), default=-1) + 1

    def _fill_values(self, numbers: np.ndarray, strategies: list[str]) -> np.ndarray:
        fills = np.full(numbers.shape[1], float(self.fill_value), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no median: it gets 0
            for index, strategy in enumerate(strategies):
                column = numbers[:, index]
                if strategy == "constant":
                    continue
                if strategy == "mean":
                    fills[index] = np.nanmean(column)
                elif strategy == "mode":
                    present = column[~np.isnan(column)]
                    values, counts = np.unique(present, return_counts=True)
                    fills[index] = values[np.argmax(counts)] if len(values) else np.nan
                else:  # median, indicator, drop_rows
                    fills[index] = np.nanmedian(column) if len(column) else np.nan
        return np.nan_to_num(fills, nan=0.0)

    def _fences(self, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outlier fences learned in training: IQR multiples, or a robust z-score (median and MAD)."""
        if self.clip == "zscore":
            center = np.median(filled, axis=0)
            mad = np.median(np.abs(filled - center), axis=0) * 1.4826
            mad = np.where(mad > 0, mad, np.inf)
            return center - self.clip_factor * mad, center + self.clip_factor * mad
        q1, q3 = np.percentile(filled, [25, 75], axis=0)
        return q1 - self.clip_factor * (q3 - q1), q3 + self.clip_factor * (q3 - q1)

    def _learn_levels(self, column: pd.Series, strategy: str | None, limit: int) -> dict[str | None, int]:
        """Level -> code. Frequent levels get their own code, rare ones share OTHER, missing gets its own."""
        positions, keys = self._distinct_keys(column.to_numpy(dtype=object))
        per_distinct = np.bincount(positions, minlength=len(keys))
        totals: dict[str, int] = {}
        for key, count in zip(keys, per_distinct, strict=True):
            if not count:
                continue
            label = MISSING_LEVEL if key is None else key
            totals[label] = totals.get(label, 0) + int(count)
        counts = pd.Series(totals, dtype="int64").sort_values(ascending=False, kind="stable")
        frequent = [lvl for lvl, n in counts.items()
                    if isinstance(lvl, str) and n >= self.min_frequency and lvl != MISSING_LEVEL][:limit]
        codes: dict[str | None, int] = {level: index for index, level in enumerate(frequent)}
        has_missing = MISSING_LEVEL in counts.index
        as_mode = strategy == "mode" or (strategy is None and not self.missing_level)
        if has_missing and not as_mode:
            codes[None] = len(codes)
        if len(frequent) < sum(1 for level in counts.index if level != MISSING_LEVEL):
            codes[OTHER_LEVEL] = len(codes)
        if has_missing and as_mode and frequent:
            codes[None] = codes[frequent[0]]  # impute the most frequent level
        return codes

    # transforming -----------------------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> Encoded:
        """X is a DataFrame, or for one request's few rows a dict of column arrays (no pandas overhead)."""
        check_is_fitted(self, "codes_")
        return self._transform(X, {})

    def transform_fitted(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> Encoded:
        """`transform` without scikit-learn's fitted check (~50 µs a call): for the serving path, which checked."""
        return self._transform(X, {})

    def _transform(self, X: pd.DataFrame | Mapping[str, np.ndarray], oof: dict[int, np.ndarray]) -> Encoded:
        """Every block written once into one preallocated matrix: building the blocks and stacking them held the
        encoded rows twice, which on a million rows one-hot is gigabytes."""
        numbers = self._numbers(X, self.numeric)
        missing = np.isnan(numbers)
        filled = np.where(missing, self.fill_, numbers)
        del numbers
        if self.clip and hasattr(self, "lower_"):
            np.clip(filled, self.lower_, self.upper_, out=filled)
        days = self._numbers(X, self.dates)
        days_missing = np.isnan(days)
        days_filled = np.where(days_missing, self.date_fill_, days)
        parts: list[np.ndarray | _OneHot | _Codes] = [*self._dense_parts(filled, days_filled, X)]
        del days_filled
        scaled_parts = len(parts)
        del days
        parts += [missing[:, self.flagged_], days_missing[:, self.date_flagged_]]
        parts += [one_hot_bins(filled[:, column], edges) for column, edges in self.bin_edges_]
        del filled, missing
        levels = self._every_level(X)  # each row's level code per category, when they go out sparse
        parts += self._categories(X, oof) if levels is None else []
        widths = [part.width if isinstance(part, _OneHot | _Codes) else part.shape[1] for part in parts]
        encoded = np.empty((len(days_missing), sum(widths)), dtype=getattr(self, "dtype_", "float64"))
        start = 0
        for index, (part, width) in enumerate(zip(parts, widths, strict=True)):
            block = encoded[:, start:start + width]
            if isinstance(part, _OneHot | _Codes):
                part.write(block)
            else:
                block[...] = part
            parts[index] = encoded[:, :0]  # let go of the block once written
            start += width
        if self.scale and hasattr(self, "mean_"):
            scaled = encoded[:, :sum(widths[:scaled_parts])]
            scaled -= self.mean_
            scaled /= self.scale_
        if levels is None:
            return encoded
        ones = _OneHot(levels, self.level_counts_).csr(getattr(self, "dtype_", "float64"))
        blocks = [sparse.csr_matrix(encoded), ones]
        if self.slopes_:
            blocks.append(self._slope_columns(levels, encoded))
        return sparse.hstack(blocks, format="csr", dtype=encoded.dtype)

    def _slope_columns(self, levels: np.ndarray, encoded: np.ndarray) -> sparse.csr_matrix:
        """Per (category, number) of `slopes_`, a block of the category's width: in each row, the scaled number
        (the first columns of `encoded`) times `slopes` at the row's level (`levels`, rows x categories), zero
        elsewhere; a level unseen in training takes the rare-level group's slope, or none without one."""
        rows_all, columns_all, values_all = [], [], []
        start = 0
        for category, number in self.slopes_:
            rows = np.flatnonzero(levels[:, category] >= 0)
            rows_all.append(rows)
            columns_all.append(start + levels[rows, category])
            values_all.append(encoded[rows, number] * self.slopes)
            start += self.level_counts_[category]
        rows, columns, values = np.concatenate(rows_all), np.concatenate(columns_all), np.concatenate(values_all)
        return sparse.csr_matrix((values, (rows, columns)), shape=(len(encoded), start), dtype=encoded.dtype)

    def _every_level(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Each row's level code per category (rows x categories) when every level goes out one-hot in a sparse
        matrix (`one_hot` without `target_means`), the category columns' block after the dense ones: for many
        rows, and for any with levels' slopes (their columns grow by levels x numbers: a request dense in 90,000
        columns took 0.5 s); None otherwise, a request's few rows staying one dense row each. Thousands of levels
        dense would be gigabytes: InstEval's 4,022 columns on 58,736 rows are 1.9 GB."""
        if not (self.one_hot and not self.target_means and self.categorical
                and (self.slopes_ or _row_count(X) > LARGE_BATCH_ROWS)):
            return None
        return self._group_matrix(X, list(range(len(self.categorical))))

    def _categories(self, X: pd.DataFrame | Mapping[str, np.ndarray], oof: dict[int, np.ndarray]
                    ) -> list[np.ndarray | _OneHot | _Codes]:
        """Category columns in order: target means where learned (out of fold for training rows), else codes or
        one-hot. Neighbouring coded columns are written as one block: a few numpy calls for forty columns, not
        several per column, which is most of one request's time."""
        parts: list[np.ndarray | _OneHot | _Codes] = []
        run: list[int] = []  # coded columns since the last target-encoded one
        for index, (name, codes) in enumerate(zip(self.categorical, self.codes_, strict=True)):
            if index not in oof and index not in self.target_means_:
                run.append(index)
                continue
            parts += self._coded(X, run)
            run = []
            parts.append(oof[index] if index in oof
                         else self.target_means_[index].lookup(self._groups(np.asarray(X[name], dtype=object), codes)))
        return parts + self._coded(X, run)

    def _coded(self, X: pd.DataFrame | Mapping[str, np.ndarray], columns: list[int]
               ) -> list[np.ndarray | _OneHot | _Codes]:
        """The level codes of `columns` (-1 for an unseen level without a rare-level group), or their one-hot."""
        if not columns:
            return []
        if _row_count(X) > LARGE_BATCH_ROWS:  # column by column into the output: no rows x columns int64 codes
            return [_Codes(self, X, columns)]
        groups = self._group_matrix(X, columns)
        if not self.one_hot:
            return [groups]
        return [_OneHot(groups, [self.level_counts_[i] for i in columns])]

    def _group_matrix(self, X: pd.DataFrame | Mapping[str, np.ndarray], columns: list[int]) -> np.ndarray:
        """Rows x `columns`: each category value's level code (see `_groups`)."""
        return np.column_stack([self._groups(np.asarray(X[self.categorical[i]], dtype=object), self.codes_[i])
                                for i in columns])

    def _dense_parts(self, filled: np.ndarray, days: np.ndarray, X: pd.DataFrame | Mapping[str, np.ndarray]
                     ) -> list[np.ndarray]:
        """The blocks scaling applies to: numbers (skewed ones reshaped), date parts, text counts."""
        texts = [text_counts(np.asarray(X[name], dtype=object)) for name in self.texts]
        return [self._shaped(filled), self._date_parts(days, origin=self.date_origin_), *texts]

    def _shaped(self, filled: np.ndarray) -> np.ndarray:
        """The numbers with the skewed ones reshaped (Yeo-Johnson), what scaling and the models see."""
        if not len(self.powered_):
            return filled
        shaped = filled.copy()
        shaped[:, self.powered_] = yeo_johnson(filled[:, self.powered_], self.lambdas_)
        return shaped

    def _dense(self, filled: np.ndarray, days: np.ndarray, X: pd.DataFrame | Mapping[str, np.ndarray]
               ) -> np.ndarray:
        """The columns scaling applies to, as one matrix (what `fit` learns the scale of)."""
        return np.hstack(self._dense_parts(filled, days, X))

    @staticmethod
    def _numbers(X: pd.DataFrame | Mapping[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
        if not names:
            return np.empty((_row_count(X), 0))
        if isinstance(X, pd.DataFrame):
            return X[list(names)].to_numpy(dtype="float64", na_value=np.nan)
        return np.column_stack([np.asarray(X[name], dtype="float64") for name in names])

    @staticmethod
    def _date_parts(days: np.ndarray, *, origin: np.ndarray) -> np.ndarray:
        """Days since 1970 -> a time index (days since the earliest training date, so trees split on time and the
        number reads as an age) and the calendar: year, month, day of month, weekday (Monday 0). Encoders fitted
        before the index have origin 0: days since 1970, as they answered then."""
        if days.shape[1] == 0:
            return days
        whole = np.floor(days).astype("int64")
        moments = whole.astype("datetime64[D]")
        years = moments.astype("datetime64[Y]")
        months = moments.astype("datetime64[M]")
        parts = [days - origin, years.astype("int64") + 1970.0, months.astype("int64") % 12 + 1.0,
                 (moments - months).astype("int64") + 1.0, (whole + 3) % 7.0]
        return np.stack(parts, axis=2).reshape(len(days), -1)

    def _groups(self, values: np.ndarray, codes: dict[str | None, int]) -> np.ndarray:
        """Each value's level code; an unseen level takes the rare-level code, or -1 without one."""
        fallback = codes.get(OTHER_LEVEL, -1)
        if len(values) > LARGE_BATCH_ROWS:
            positions, keys = self._distinct_keys(values)
            grouped: np.ndarray = np.array([_code(key, codes, fallback) for key in keys], dtype=int)[positions]
            return grouped
        return np.array([_code(clean_text(value, normalize=self.normalize), codes, fallback) for value in values],
                        dtype=int)

    def _distinct_keys(self, values: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """Each row's position among the distinct values, and each distinct value cleaned: text is cleaned once
        per distinct value, not once per row (pandas string methods cost milliseconds per column)."""
        positions, uniques = pd.factorize(values, use_na_sentinel=True)
        keys = [clean_text(value, normalize=self.normalize) for value in uniques] + [None]
        return np.where(positions < 0, len(uniques), positions), keys

    def unseen_level(self, name: str) -> UnseenLevel:
        """How `transform` reads a level of the category `name` that `fit` never saw (never an error): "rare", as
        the group of levels too rare to learn apart, when training had any; else "prior", target-encoded as the
        mean of all training rows; "none", one-hot with no column set; or "code", the code -1, which the model
        after the encoder reads its own way."""
        check_is_fitted(self, "codes_")
        index = list(self.categorical).index(name)
        if OTHER_LEVEL in self.codes_[index]:
            return "rare"
        if index in self.target_means_:
            return "prior"
        return "none" if self.one_hot else "code"

    @property
    def code_columns_(self) -> list[int]:
        """Output positions of the category columns coded as integers (not one-hot, not target-encoded): what a
        model with native categorical splits should treat as categories."""
        check_is_fitted(self, "codes_")
        if self.one_hot:
            return []
        names = list(self.get_feature_names_out())
        return [names.index(name) for index, name in enumerate(self.categorical) if index not in self.target_means_]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "codes_")
        names = list(self.numeric)
        names += [f"{date}_{part}" for date in self.dates for part in ("days", *DATE_PARTS)]
        names += [f"{text}~{part}" for text in self.texts for part in TEXT_PARTS]
        names += [f"{self.numeric[i]}_missing" for i in self.flagged_]
        names += [f"{self.dates[i]}_missing" for i in self.date_flagged_]
        names += [f"{self.numeric[column]}~bin={k}" for column, edges in self.bin_edges_ for k in range(len(edges) + 1)]
        one_hot: dict[int, list[str]] = {}  # category -> its levels' names, which its slopes' names repeat
        for index, (name, codes) in enumerate(zip(self.categorical, self.codes_, strict=True)):
            if index in self.target_means_:
                names += target_names(name, self.target_suffixes_)
                continue
            if not self.one_hot:
                names.append(name)
                continue
            one_hot[index] = _level_names(name, codes)
            names += one_hot[index]
        for category, number in self.slopes_:
            names += [f"{level}*{self.numeric[number]}" for level in one_hot[category]]
        return np.asarray(names, dtype=object)


    def __setstate__(self, state: dict[str, Any]) -> None:
        """Encoders pickled before power transforms, bins, text, target means and the date origin existed load
        without them."""
        defaults = {"texts": (), "power": False, "bins": (), "smoothing": 10.0, "seed": 0, "float32_rows": None,
                    "target_means": True, "dtype_": "float64",
                    "powered_": np.array([], int), "lambdas_": np.array([]), "bin_edges_": [], "target_means_": {},
                    "target_suffixes_": [], "slopes": 0.0, "slopes_": []}
        if "date_fill_" in state and "date_origin_" not in state:  # before the time index: days since 1970
            defaults["date_origin_"] = np.zeros(len(state["date_fill_"]))
        super().__setstate__({**defaults, **state})
        if "codes_" in state and "level_counts_" not in state:
            self.level_counts_ = [len(set(codes.values())) for codes in self.codes_]


def encoders_in(estimator: Any) -> list[tuple[TabularEncoder, Any]]:
    """Every TabularEncoder inside `estimator` (pipelines, target transforms, blends, wrappers), each with the
    pipeline's last step, the model that reads its output (None for an encoder on its own)."""
    if isinstance(estimator, TabularEncoder):
        return [(estimator, None)]
    steps = [step for _, step in getattr(estimator, "steps", [])]
    found = []
    for step in steps:
        for encoder, model in encoders_in(step):
            reads_it = steps[-1] if model is None and step is not steps[-1] else model  # the pipeline's own model
            found.append((encoder, reads_it))
    inner = list(getattr(estimator, "estimators_", []) or [])
    inner += [getattr(estimator, name) for name in ("regressor_", "estimator_") if hasattr(estimator, name)]
    return found + [pair for part in inner for pair in encoders_in(part)]


def _level_names(name: str, codes: dict[str | None, int]) -> list[str]:
    """`name=level` per code, in code order: a group's first level names it, the missing one MISSING_LEVEL."""
    by_code: dict[int, str] = {}
    for level, code in codes.items():
        by_code.setdefault(code, MISSING_LEVEL if level is None else str(level))
    return [f"{name}={by_code[code]}" for code in sorted(by_code)]


def _code(key: str | None, codes: dict[str | None, int], fallback: int) -> int:
    """A cleaned value's level code: its own, its whole number's other spelling's (`known_spelling`), else
    `fallback`. The second look-up is made only for a value the fit never saw."""
    code = codes.get(key)
    if code is None:
        code = codes.get(known_spelling(key, codes), fallback)
    return code


def _varies(spread: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Whether each column's spread is more than rounding's (see CONSTANT_SPREAD)."""
    return np.asarray((spread > 0) & (spread > CONSTANT_SPREAD * np.abs(mean)))


def _standardised(values: np.ndarray) -> np.ndarray:
    """Columns centred and divided by their spread times the root of the rows, so that a product of two is their
    correlation; a constant column is all zeros."""
    centred = values - values.mean(axis=0)
    spread = np.sqrt((centred ** 2).sum(axis=0))
    standardised: np.ndarray = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
    return standardised


def _row_count(X: pd.DataFrame | Mapping[str, np.ndarray]) -> int:
    """Rows of a frame, or of a request's dict of column arrays."""
    return len(X) if isinstance(X, pd.DataFrame) else len(next(iter(X.values()), ()))


class _OneHot:
    """Level codes (rows x columns) to be written one-hot straight into the output matrix, never built apart."""

    def __init__(self, groups: np.ndarray, widths: list[int]) -> None:
        self.groups, self.widths = groups, widths
        self.width = sum(widths)

    def write(self, block: np.ndarray) -> None:
        block[...] = 0.0
        block[self._ones()] = 1.0

    def csr(self, dtype: str) -> sparse.csr_matrix:
        """The same ones as a CSR matrix: every level of thousands is a column (see `TabularEncoder._every_level`)."""
        rows, columns = self._ones()
        return sparse.csr_matrix((np.ones(len(rows), dtype=dtype), (rows, columns)),
                                 shape=(len(self.groups), self.width))

    def _ones(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and output column of each 1: a level's code offset by the widths of the columns before it."""
        offsets = np.cumsum([0, *self.widths[:-1]])
        rows, positions = np.nonzero(self.groups >= 0)
        return rows, self.groups[rows, positions] + offsets[positions]


class _Codes:
    """Coded columns of many rows, computed and written one column at a time straight into the output matrix."""

    def __init__(self, encoder: TabularEncoder, X: pd.DataFrame | Mapping[str, np.ndarray], columns: list[int]) -> None:
        self.encoder, self.X, self.columns = encoder, X, columns
        self.widths = [encoder.level_counts_[i] if encoder.one_hot else 1 for i in columns]
        self.width = sum(self.widths)

    def write(self, block: np.ndarray) -> None:
        encoder = self.encoder
        if encoder.one_hot:
            block[...] = 0.0
        start = 0
        for index, width in zip(self.columns, self.widths, strict=True):
            groups = encoder._groups(np.asarray(self.X[encoder.categorical[index]], dtype=object),
                                     encoder.codes_[index])
            if not encoder.one_hot:
                block[:, start] = groups
            else:
                rows = np.flatnonzero(groups >= 0)
                block[rows, start + groups[rows]] = 1.0
            start += width


class DerivedColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # untyped base class
    """Adds the `features.derive` columns, computed from the raw inputs inside the pipeline, so serving
    computes them too. Only the expression texts are stored: the compiled closures are rebuilt after loading."""

    def __init__(self, expressions: tuple[tuple[str, str], ...] = (), inputs: tuple[str, ...] = ()):
        self.expressions = expressions
        self.inputs = inputs

    def fit(self, X: pd.DataFrame, y: object = None) -> DerivedColumns:
        self.n_features_in_ = len(self.inputs)
        self.compiled_: list[Expression] | None = self._compile()
        return self

    def _compile(self) -> list[Expression]:
        from cairn.expr import parse

        return [parse(name, text, known_columns=list(self.inputs)) for name, text in self.expressions]

    def transform(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame | dict[str, np.ndarray]:
        check_is_fitted(self, "compiled_")
        return self.transform_fitted(X)

    def transform_fitted(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame | dict[str, np.ndarray]:
        """`transform` without scikit-learn's fitted check: for the serving path, which checked."""
        if self.compiled_ is None:
            self.compiled_ = self._compile()
        if isinstance(X, pd.DataFrame):
            columns = {name: X[name].to_numpy() for name in self.inputs if name in X.columns}
            derived = {e.name: np.broadcast_to(e(columns), (len(X),)).astype("float64") for e in self.compiled_}
            return X.assign(**derived)
        rows = len(next(iter(X.values()), ()))
        return {**X, **{e.name: np.broadcast_to(e(X), (rows,)).astype("float64") for e in self.compiled_}}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "compiled_" in state:
            state["compiled_"] = None  # closures do not pickle; rebuilt on first use
        return state

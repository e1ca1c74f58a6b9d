"""The encoder inside every fitted pipeline: raw columns in, a float matrix out, the same in training and serving.

One transformer instead of a ColumnTransformer of imputers, clippers, scalers and encoders: it learns everything a
record needs in one `fit`, and `transform` is plain numpy plus dictionary look-ups, so one row takes microseconds
rather than the tens of milliseconds that per-column pandas and scikit-learn validation cost on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cairn.stages.preprocessing import MISSING_MARKERS

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
LARGE_BATCH_ROWS = 256  # above this, pandas' vectorised map beats a Python loop


def clean_text(value: object) -> str | None:
    """Trim text; 'N/A', 'null', '' and NaN all mean missing, as they did in training."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return None if text in MISSING_MARKERS else text


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Numbers: impute, flag missing, clip to IQR fences, scale. Categories: clean, group rare levels, encode.

    Parameters follow scikit-learn: `__init__` stores them, `fit` learns attributes ending in `_`.
    `one_hot=False` gives one code per category column (for trees); unseen levels at serving time fall into
    the rare-level code (or all zeros when one-hot with no rare group), never an error.
    """

    def __init__(self, numeric: tuple[str, ...] = (), categorical: tuple[str, ...] = (), *,
                 impute: str = "median", missing_level: bool = True, clip_iqr: float | None = None,
                 scale: bool = False, one_hot: bool = False, max_levels: int = 30, min_frequency: int = 5):
        self.numeric = numeric
        self.categorical = categorical
        self.impute = impute
        self.missing_level = missing_level
        self.clip_iqr = clip_iqr
        self.scale = scale
        self.one_hot = one_hot
        self.max_levels = max_levels
        self.min_frequency = min_frequency

    # fitting ----------------------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: object = None) -> TabularEncoder:  # noqa: N803
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        numbers = self._numbers(X)
        self.fill_ = self._fill_values(numbers)
        self.flagged_ = np.flatnonzero(np.isnan(numbers).any(axis=0)) if len(numbers) else np.array([], int)
        filled = np.where(np.isnan(numbers), self.fill_, numbers)
        if self.clip_iqr is not None and len(filled):
            q1, q3 = np.percentile(filled, [25, 75], axis=0)
            self.lower_, self.upper_ = q1 - self.clip_iqr * (q3 - q1), q3 + self.clip_iqr * (q3 - q1)
            filled = np.clip(filled, self.lower_, self.upper_)
        if self.scale and len(filled):
            self.mean_ = filled.mean(axis=0)
            spread = filled.std(axis=0)
            self.scale_ = np.where(spread > 0, spread, 1.0)
        self.codes_ = [self._learn_levels(X[name]) for name in self.categorical]
        return self

    def _fill_values(self, numbers: np.ndarray) -> np.ndarray:
        if numbers.shape[1] == 0 or self.impute == "zero":
            return np.zeros(numbers.shape[1])
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                values = np.nanmedian(numbers, axis=0) if self.impute == "median" else np.nanmean(numbers, axis=0)
        return np.nan_to_num(values, nan=0.0)

    def _learn_levels(self, column: pd.Series) -> dict[str | None, int]:
        """Level -> code. Frequent levels get their own code, rare ones share OTHER, missing gets its own."""
        cleaned = self._clean_column(column.to_numpy(dtype=object))
        counts = pd.Series(cleaned, dtype=object).fillna(MISSING_LEVEL).value_counts()
        limit = self.max_levels if self.one_hot else 100_000
        frequent = [lvl for lvl, n in counts.items() if n >= self.min_frequency and lvl != MISSING_LEVEL][:limit]
        codes: dict[str | None, int] = {level: index for index, level in enumerate(frequent)}
        has_missing = MISSING_LEVEL in counts.index
        if has_missing and self.missing_level:
            codes[None] = len(codes)
        if len(frequent) < sum(1 for level in counts.index if level != MISSING_LEVEL):
            codes[OTHER_LEVEL] = len(codes)
        if has_missing and not self.missing_level and frequent:
            codes[None] = codes[frequent[0]]  # impute the most frequent level
        return codes

    # transforming -----------------------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:  # noqa: N803
        """X is a DataFrame, or for one request's few rows a dict of column arrays (no pandas overhead)."""
        check_is_fitted(self, "codes_")
        parts = [self._transform_numbers(self._numbers(X))]
        for name, codes in zip(self.categorical, self.codes_, strict=True):
            parts.append(self._encode(np.asarray(X[name], dtype=object), codes))
        return np.hstack(parts)

    def _numbers(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:  # noqa: N803
        rows = len(X) if isinstance(X, pd.DataFrame) else len(next(iter(X.values()), ()))
        if not self.numeric:
            return np.empty((rows, 0))
        if isinstance(X, pd.DataFrame):
            return X[list(self.numeric)].to_numpy(dtype="float64", na_value=np.nan)
        return np.column_stack([np.asarray(X[name], dtype="float64") for name in self.numeric])

    def _transform_numbers(self, numbers: np.ndarray) -> np.ndarray:
        missing = np.isnan(numbers)
        filled = np.where(missing, self.fill_, numbers)
        if self.clip_iqr is not None and hasattr(self, "lower_"):
            filled = np.clip(filled, self.lower_, self.upper_)
        if self.scale and hasattr(self, "mean_"):
            filled = (filled - self.mean_) / self.scale_
        return np.hstack([filled, missing[:, self.flagged_].astype("float64")])

    def _encode(self, values: np.ndarray, codes: dict[str | None, int]) -> np.ndarray:
        fallback = codes.get(OTHER_LEVEL, -1)
        cleaned = self._clean_column(values)
        if len(cleaned) > LARGE_BATCH_ROWS:
            mapped = pd.Series(cleaned, dtype=object).map(codes)
            missing_code = codes.get(None, fallback)
            index = np.where(pd.isna(cleaned), missing_code, mapped.fillna(fallback).to_numpy(dtype=float))
        else:
            index = np.array([codes.get(value, fallback) for value in cleaned], dtype=float)
        if not self.one_hot:
            return index.reshape(-1, 1)
        width = len(set(codes.values()))
        encoded = np.zeros((len(index), width))
        rows = np.flatnonzero(index >= 0)
        encoded[rows, index[rows].astype(int)] = 1.0
        return encoded

    @staticmethod
    def _clean_column(values: np.ndarray) -> np.ndarray:
        if len(values) > LARGE_BATCH_ROWS:
            text = pd.Series(values, dtype=object).astype("string").str.strip()
            text = text.where(~text.isin(MISSING_MARKERS))
            return text.astype(object).where(text.notna(), None).to_numpy(dtype=object)
        return np.array([clean_text(value) for value in values], dtype=object)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "codes_")
        names = list(self.numeric) + [f"{self.numeric[i]}_missing" for i in self.flagged_]
        for name, codes in zip(self.categorical, self.codes_, strict=True):
            if not self.one_hot:
                names.append(name)
                continue
            by_code: dict[int, str] = {}
            for level, code in codes.items():
                by_code.setdefault(code, MISSING_LEVEL if level is None else str(level))
            names += [f"{name}={by_code[code]}" for code in sorted(by_code)]
        return np.asarray(names, dtype=object)

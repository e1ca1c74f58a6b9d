"""What a drift check keeps of the training rows: statistics computed once, so a check never rereads them.

Per number: the PSI bin edges (the reference's quantiles) with the reference's count in each bin, a sketch of its
distribution for Kolmogorov-Smirnov (up to ``SKETCH_POINTS`` values with the exact share of rows at or below each
one, and strictly below), mean, standard deviation and missing rate. Per category: the rows of each level and the
missing rows. Levels are keyed as the model's encoder reads them (``cairn.estimators.encoder.clean_text``: trimmed,
'N/A' and friends missing, case and inner spaces folded under ``preprocessing.normalize_categories``), and shown in
their most frequent spelling in the reference, so 'WD ' in a window and 'WD' in the training rows are one level.

Every count a window needs (``WindowCounts``) is a sum over rows, so a window may come in batches (a 10-million-row
Parquet file read a row group at a time) and still give the same answer as in one piece.

KS from the sketch: both distribution functions are compared at every sketch point, just before it and at it. When
the reference has at most ``SKETCH_POINTS`` distinct values (years, counts, anything discrete) the sketch holds them
all and the statistic D is exact; beyond, the sketch points are the reference's quantiles and D is low by at most
the reference's share of rows between two neighbouring points (1/``SKETCH_POINTS``). The p-value comes from the
Kolmogorov limit distribution of sqrt(n·m/(n+m))·D, n and m the known values on each side.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.estimators.encoder import WHOLE_FLOATS_BELOW, clean_text, known_spelling, one_spelling
from cairn.estimators.text_values import factorized
from cairn.model.inputs import FeatureSpec, as_model_frame
from cairn.privacy import redact_unseen_level

__all__ = ["SKETCH_POINTS", "CategoryReference", "LevelCounts", "NumberReference", "ReferenceStatistics",
           "feature_values", "level_counts", "reference_statistics"]

SKETCH_POINTS = 2048
SAMPLE_ROWS = 5_000  # reference rows kept for the domain classifier (and for prediction drift)


@dataclass(frozen=True)
class LevelCounts:
    """Rows per level key, missing rows, and the most frequent spelling of each key."""

    counts: dict[str, int]
    missing: int
    spelling: dict[str, str]

    @property
    def rows(self) -> int:
        return sum(self.counts.values()) + self.missing


def new_levels(counts: Mapping[str, int], spelling: Mapping[str, str], known: Container[str]
               ) -> dict[str, str]:
    """The level keys of `counts` outside `known`, the most frequent first (ties by key), each with its spelling
    masked: a level the model never saw may be personal data typed into the field (cairn.privacy). What `cairn
    monitor` and `cairn predict` name as new, in one order and one masking."""
    keys = sorted((key for key in counts if key not in known), key=lambda key: (-counts[key], key))
    return {key: redact_unseen_level(spelling.get(key, key)) for key in keys}


def level_counts(values: pd.Series | np.ndarray, *, normalize: bool, known: Container[str] | None = None
                 ) -> LevelCounts:
    """Rows per level as the model's encoder keys them: one factorize over the rows, ``clean_text`` once per
    distinct value (not per row), so a million rows with a few dozen levels cost milliseconds. Counted against
    `known` (the reference's levels), a whole number spelt otherwise is counted as the known level, as the encoder
    reads it (``known_spelling``), and a new one as one level in either spelling (a chunk with a gap reads 98199
    as 98199.0)."""
    uniques, per_unique, missing = _distinct_values(values)
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}
    best: dict[str, int] = {}
    for raw, count in zip(uniques, per_unique, strict=True):
        key = level_key(raw, normalize=normalize, known=known)
        if key is None:  # 'N/A', '', ... read as missing, as the model reads them
            missing += count
            continue
        counts[key] = counts.get(key, 0) + count
        if count > best.get(key, -1):
            best[key] = count
            spelling[key] = _written(raw)
    return LevelCounts(counts, missing, spelling)


def level_key(raw: Any, *, normalize: bool, known: Container[str] | None = None) -> str | None:
    """A value's level key as the model's encoder keys it (``clean_text``; None: missing). Against `known`, a whole
    number spelt otherwise is the known level (``known_spelling``), and a new one has one key whichever way a chunk
    read it ('98199' for 98199.0)."""
    key = clean_text(raw, normalize=normalize)
    if known is None or key in known:
        return key
    key = known_spelling(key, known)
    return key if key in known else one_spelling(key)


def _written(raw: Any) -> str:
    """A level as a report shows it: text trimmed; a whole number pandas read as a float as the whole number
    (98199, not 98199.0: the '.0' is pandas', not the data's)."""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < WHOLE_FLOATS_BELOW:
        return str(int(raw))
    return str(raw).strip()


def _distinct_values(values: pd.Series | np.ndarray) -> tuple[list[Any], list[int], int]:
    """Distinct non-missing values, their rows, and the missing rows. pandas' Arrow-backed text is counted by
    Arrow itself (pyarrow.compute.value_counts: 2-10x faster than factorize at a million rows)."""
    if isinstance(values, pd.Series) and pd.api.types.is_string_dtype(values.dtype) \
            and type(values.array).__name__ == "ArrowStringArray":
        import pyarrow.compute as pc

        counted = pc.value_counts(values.array.__arrow_array__())
        distinct, counts = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
        missing = sum(count for value, count in zip(distinct, counts, strict=True) if value is None)
        kept = [(value, count) for value, count in zip(distinct, counts, strict=True) if value is not None]
        return [value for value, _ in kept], [count for _, count in kept], missing
    codes, uniques = factorized(values)
    known = codes[codes >= 0]
    return list(uniques), np.bincount(known, minlength=len(uniques)).tolist(), int(codes.size - known.size)


def feature_values(table: pd.DataFrame, feature: FeatureSpec, *, parsed: bool = False) -> Any:
    """One column of the window as the model reads it (``as_model_frame``): numbers parsed (text numbers, dates as
    days) as float64 with inf as missing; free text as its length; categories as they are, for ``level_counts``
    to key with the encoder's ``clean_text`` (a Series: factorizing pandas' own strings beats object arrays by far).
    ``parsed``: the table went through ``as_model_frame`` already (baselines saved before the statistics), so
    numbers are read as they are. Numbers already stored as numbers skip the parsing: it would change nothing."""
    column = table[feature.name]
    if feature.kind != "number" and feature.parse != "text":
        return column
    if feature.parse == "text":
        text = as_model_frame(table[[feature.name]], [feature])[feature.name]
        lengths = text.map(lambda value: len(value) if isinstance(value, str) else np.nan)
        return lengths.to_numpy(dtype="float64", na_value=np.nan)
    if parsed or (feature.parse == "plain" and pd.api.types.is_numeric_dtype(column.dtype)):
        numbers = column if pd.api.types.is_numeric_dtype(column.dtype) else pd.to_numeric(column, errors="coerce")
        values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = as_model_frame(table[[feature.name]], [feature])[feature.name].to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
    return np.where(np.isinf(values), np.nan, values) if np.isinf(values).any() else values


def is_numeric(feature: FeatureSpec) -> bool:
    """Numbers, and free text (whose length is what can drift)."""
    return feature.kind == "number" or feature.parse == "text"


@dataclass(frozen=True)
class NumberReference:
    """A number's reference: PSI bins, KS sketch, moments, missing rate."""

    name: str
    edges: np.ndarray  # inner PSI bin edges; bins (-inf, e0], (e0, e1], ..., (e_last, inf)
    counts: np.ndarray  # reference rows per bin, then the missing rows
    sketch: np.ndarray  # sorted values (every distinct one, or quantiles) plus the edges
    at_or_below: np.ndarray  # share of known reference values <= each sketch value
    below: np.ndarray  # share of known reference values < each sketch value
    exact: bool  # the sketch holds every distinct value: KS is exact
    known: int
    rows: int
    mean: float
    std: float

    @property
    def missing_rate(self) -> float:
        return 1 - self.known / self.rows if self.rows else 0.0

    @property
    def edge_positions(self) -> np.ndarray:
        """Where each edge sits in the sketch (edges are sketch points, so one pass gives bins and KS)."""
        return np.searchsorted(self.sketch, self.edges)


@dataclass(frozen=True)
class CategoryReference:
    """A category's reference: rows per level key, missing rows, how each key is spelt."""

    name: str
    counts: dict[str, int]
    missing: int
    spelling: dict[str, str]
    rows: int

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class ReferenceStatistics:
    """Everything a drift check reads of the training rows (see the module docstring)."""

    rows: int
    features: dict[str, NumberReference | CategoryReference]
    normalize: bool  # categories keyed with case and inner spaces folded (preprocessing.normalize_categories)
    bins: int
    sample: pd.DataFrame = field(repr=False)  # up to SAMPLE_ROWS reference rows, model columns: domain classifier
    parsed: bool = False  # the sample went through as_model_frame already (built from an older baseline)


def number_reference(name: str, values: np.ndarray, *, bins: int) -> NumberReference:
    known = np.sort(values[~np.isnan(values)])
    if known.size:
        edges = np.unique(np.quantile(known, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        distinct = np.unique(known)
        exact = distinct.size <= SKETCH_POINTS
        points = distinct if exact else np.unique(known[np.linspace(0, known.size - 1, SKETCH_POINTS).round()
                                                        .astype("int64")])
        sketch = np.union1d(points, edges)
        at_or_below = np.searchsorted(known, sketch, side="right") / known.size
        below = np.searchsorted(known, sketch, side="left") / known.size
        mean, std = float(known.mean()), float(known.std())
    else:
        edges = sketch = at_or_below = below = np.empty(0)
        exact, mean, std = True, math.nan, math.nan
    at_or_below_edges = np.searchsorted(known, edges, side="right")
    borders = np.concatenate([[0], at_or_below_edges, [known.size]])
    counts = np.append(np.diff(borders), values.size - known.size).astype("int64")
    return NumberReference(name=name, edges=edges, counts=counts, sketch=sketch, at_or_below=at_or_below,
                           below=below, exact=exact, known=int(known.size), rows=int(values.size), mean=mean, std=std)


def reference_statistics(reference: pd.DataFrame, features: Sequence[FeatureSpec], *, bins: int = 10,
                         normalize: bool = True, sample_rows: int = SAMPLE_ROWS, seed: int = 0,
                         parsed: bool = False) -> ReferenceStatistics:
    """Statistics of every feature over all of ``reference`` (training rows), and a sample of it; ``parsed`` as
    ``feature_values`` takes it."""
    by_name: dict[str, NumberReference | CategoryReference] = {}
    for feature in features:
        if feature.name not in reference.columns:
            continue
        values = feature_values(reference, feature, parsed=parsed)
        if is_numeric(feature):
            by_name[feature.name] = number_reference(feature.name, values, bins=bins)
        else:
            levels = level_counts(values, normalize=normalize)
            by_name[feature.name] = CategoryReference(feature.name, levels.counts, levels.missing, levels.spelling,
                                                      levels.rows)
    names = [feature.name for feature in features if feature.name in reference.columns]
    sample = reference[names]
    if len(sample) > sample_rows:
        sample = sample.sample(sample_rows, random_state=seed)
    return ReferenceStatistics(rows=len(reference), features=by_name, normalize=normalize, bins=bins,
                               sample=sample.reset_index(drop=True), parsed=parsed)

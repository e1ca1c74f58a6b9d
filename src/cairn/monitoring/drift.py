"""Has the data the model sees moved away from the data it learnt from? One number per feature, plus a test.

The population stability index (PSI) compares the share of rows in each bin, reference against current:

    PSI = sum over bins of (current_share - reference_share) * ln(current_share / reference_share)

with every share floored at ``PSI_EPSILON`` so that a bin empty on one side gives a large but finite term.
Numbers are binned at the reference's quantiles (``bins`` bins, fewer when quantiles coincide, intervals closed on
the right so a spike at one value such as 0 keeps a bin of its own); the outer bins are open-ended, so values
beyond the reference's range land in them. Categories are binned by level: each level seen in the reference,
"(new)" for every level it never had, and for both kinds missing values get a bin of their own, so a rise in
missing values is drift too.

PSI is read with the usual rule of thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, 0.25 or more a major
one; ``threshold`` (0.2 by default) decides what counts as drifted. The test beside it (Kolmogorov-Smirnov for
numbers, chi-square for categories) gives a p-value, but with thousands of rows even a harmless shift is
"significant", so the p-value is reported, not used for the verdict.

Logged requests are often partial records (``{"Gr_Liv_Area": 1656}``): the model imputes what was not sent, so an
unsent field is neither drift nor a "missing" value of the data. With ``sent`` (which requests carried each key),
a feature is judged on the requests that sent it; one sent in fewer than half of them (``MIN_SENT_SHARE``) is
reported as "not sent in N of M requests" and left out of the verdict: a handful of values is too few for a PSI
over ten bins, and scoring the imputed rest as missing would call every short request drift.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cairn.errors import DataError, Problem
from cairn.model.trained import FeatureSpec

__all__ = ["PSI_EPSILON", "DriftReport", "FeatureDrift", "feature_drift", "population_stability_index"]

PSI_EPSILON = 1e-4
MISSING_LEVEL = "(missing)"
NEW_LEVEL = "(new)"
MODERATE_PSI = 0.1
MAJOR_PSI = 0.25
KS_SCIPY_MAX_ROWS = 10_000
MIN_SENT_SHARE = 0.5
"""A feature sent in fewer than this share of the logged requests is reported, not judged."""


@dataclass(frozen=True)
class FeatureDrift:
    """How far one feature moved between the reference and the current data."""

    feature: str
    kind: str  # "number" | "category"
    psi: float  # population stability index, reference vs current
    test: str  # "ks" for numbers (scipy.stats.ks_2samp), "chi2" for categories (scipy.stats.chi2_contingency)
    p_value: float | None  # None when the test cannot run (no values on one side, a single bin)
    drifted: bool  # psi >= threshold
    detail: str  # a plain sentence, e.g. "mean 1,500 → 1,720; PSI 0.31 (major shift)"
    judged: bool = True  # False: too rarely sent in the requests to judge (psi is NaN), left out of the verdict


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift, most drifted first."""

    features: list[FeatureDrift]
    threshold: float
    reference_rows: int
    current_rows: int

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [feature for feature in self.features if feature.drifted]

    @property
    def judged(self) -> list[FeatureDrift]:
        """The features the verdict is about: all of them, except those too rarely sent in logged requests."""
        return [feature for feature in self.features if feature.judged]

    @property
    def not_judged(self) -> list[FeatureDrift]:
        return [feature for feature in self.features if not feature.judged]

    @property
    def share_drifted(self) -> float:
        """Drifted features as a share of the judged ones."""
        judged = self.judged
        return len(self.drifted) / len(judged) if judged else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "share_drifted": self.share_drifted,
            "drifted": [feature.feature for feature in self.drifted],
            "not_judged": [feature.feature for feature in self.not_judged],
            # JSON has no NaN: an unjudged feature's PSI is null
            "features": [asdict(feature) | ({} if feature.judged else {"psi": None}) for feature in self.features],
        }


def population_stability_index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI of two histograms over the same bins (counts, not shares); shares are floored at ``PSI_EPSILON``."""
    reference = np.asarray(reference_counts, dtype="float64")
    current = np.asarray(current_counts, dtype="float64")
    reference_share = np.maximum(reference / max(reference.sum(), 1.0), PSI_EPSILON)
    current_share = np.maximum(current / max(current.sum(), 1.0), PSI_EPSILON)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, *, features: Sequence[FeatureSpec],
                  threshold: float = 0.2, bins: int = 10, sent: Mapping[str, np.ndarray] | None = None
                  ) -> DriftReport:
    """Per-feature drift of ``current`` against ``reference`` (typically the training rows), most drifted first.

    ``sent``, for logged requests: per feature, a boolean per row of ``current``, whether that request carried
    the key. A feature is then judged on the rows that sent it, or not judged when fewer than ``MIN_SENT_SHARE``
    of them did (a feature named in ``sent`` may be absent from ``current``). Unjudged features come last.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise ValueError(f"The threshold parameter of feature_drift must be a number > 0. Got {threshold!r} instead.")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"The bins parameter of feature_drift must be an int >= 2. Got {bins!r} instead.")
    if not features:
        raise ValueError("The features parameter of feature_drift must list at least one feature. Got [] instead.")
    _check_columns(reference, current, features, optional=set(sent) if sent is not None else set())
    results = []
    rows = len(current)
    for feature in features:
        mask = sent.get(feature.name) if sent is not None else None
        if feature.name in current.columns:
            column = current[feature.name]
        else:  # sent by no request
            column = pd.Series(np.nan, index=current.index, dtype="object")
        prefix = None
        if mask is not None and not bool(np.all(mask)):
            count = int(np.count_nonzero(mask))
            prefix = f"not sent in {rows - count:,} of {rows:,} requests"
            if count < MIN_SENT_SHARE * rows:
                results.append(FeatureDrift(
                    feature=feature.name, kind=feature.kind, psi=math.nan,
                    test="chi2" if feature.kind == "category" and feature.parse != "text" else "ks", p_value=None,
                    drifted=False, judged=False,
                    detail=f"{prefix} (imputed): left out of the verdict"))
                continue
            column = column[np.asarray(mask, dtype=bool)]
            prefix += f"; judged on the {count:,} that sent it"
        result = _one_drift(feature, reference[feature.name], column, threshold=threshold, bins=bins)
        results.append(result if prefix is None else replace(result, detail=f"{prefix}; {result.detail}"))
    results.sort(key=lambda result: (not result.judged, -result.psi if result.judged else 0.0, result.feature))
    return DriftReport(features=results, threshold=float(threshold), reference_rows=len(reference),
                       current_rows=len(current))


def _one_drift(feature: FeatureSpec, reference: pd.Series, current: pd.Series, *, threshold: float,
               bins: int) -> FeatureDrift:
    if feature.parse == "text":  # free text never repeats: its length is what can drift
        return _number_drift(feature.name, _text_length(reference), _text_length(current), threshold=threshold,
                             bins=bins)
    if feature.kind == "number":
        return _number_drift(feature.name, reference, current, threshold=threshold, bins=bins)
    return _category_drift(feature.name, reference, current, threshold=threshold)


def _text_length(values: pd.Series) -> pd.Series:
    return values.map(lambda value: len(value) if isinstance(value, str) else np.nan).astype("float64")


def _check_columns(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[FeatureSpec], *,
                   optional: set[str]) -> None:
    """Every problem at once: missing columns on either side (but ``optional`` ones in current), and empty frames."""
    problems: list[Problem] = []
    missing_by_side: dict[str, list[str]] = {}
    for side, table in (("reference", reference), ("current", current)):
        present = {str(column) for column in table.columns}
        absent = [feature.name for feature in features if feature.name not in table.columns
                  and (side == "reference" or feature.name not in optional)]
        missing_by_side[side] = absent
        for name in absent:
            close = difflib.get_close_matches(name, sorted(present), n=1, cutoff=0.8)
            fix = (f"rename {close[0]!r} to {name!r}" if close else
                   f"add a {name!r} column (empty values are fine: they are counted as missing)")
            problems.append(Problem(where=f"{side} data, column {name!r}",
                                    expected="a column the model was trained on", got="no such column", fix=fix))
        if len(table) == 0:
            problems.append(Problem(where=f"{side} data", expected="at least one row", got="0 rows",
                                    fix="compare data that holds records, e.g. a day of logged requests"))
    if not problems:
        return
    parts = [f"the {side} data lacks {', '.join(names)}" for side, names in missing_by_side.items() if names]
    headline = ("Cannot check drift: " + "; ".join(parts) + "." if parts
                else "Cannot check drift: there are no rows to compare.")
    raise DataError(headline, problems)


def _shares_text(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{100 * share:.1f}%" if share < 0.1 else f"{100 * share:.0f}%"


def _value_text(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _verdict(psi: float) -> str:
    if psi >= MAJOR_PSI:
        return "major shift"
    if psi >= MODERATE_PSI:
        return "moderate shift"
    return "stable"


def _p_value(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _number_drift(name: str, reference: pd.Series, current: pd.Series, *, threshold: float,
                  bins: int) -> FeatureDrift:
    reference_values = _as_numbers(reference)
    current_values = _as_numbers(current)
    reference_known = np.sort(reference_values[~np.isnan(reference_values)])
    current_known = np.sort(current_values[~np.isnan(current_values)])
    if reference_known.size:
        edges = np.unique(np.quantile(reference_known, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    else:
        edges = np.empty(0)
    reference_counts = _binned(reference_known, edges, missing=reference_values.size - reference_known.size)
    current_counts = _binned(current_known, edges, missing=current_values.size - current_known.size)
    psi = population_stability_index(reference_counts, current_counts)
    p_value = None
    if reference_known.size and current_known.size:
        p_value = _ks_p_value(reference_known, current_known)
    facts = []
    if reference_known.size and current_known.size:
        facts.append(f"mean {_value_text(float(reference_known.mean()))} → "
                     f"{_value_text(float(current_known.mean()))}")
    elif not current_known.size:
        facts.append("no values in the current data")
    else:
        facts.append("no values in the reference data")
    reference_missing = 1 - reference_known.size / reference_values.size
    current_missing = 1 - current_known.size / current_values.size
    if _shares_text(reference_missing) != _shares_text(current_missing):
        facts.append(f"missing {_shares_text(reference_missing)} → {_shares_text(current_missing)}")
    if psi >= MODERATE_PSI and edges.size:
        facts.append(_moved_bin(edges, reference_counts[:-1], current_counts[:-1]))
    detail = "; ".join([*facts, f"PSI {psi:.2f} ({_verdict(psi)})"])
    return FeatureDrift(feature=name, kind="number", psi=psi, test="ks", p_value=p_value, drifted=psi >= threshold,
                        detail=detail)


def _moved_bin(edges: np.ndarray, reference_counts: np.ndarray, current_counts: np.ndarray) -> str:
    """The value range whose share changed most, e.g. "above 2,005: 19% → 13%"."""
    reference_share = reference_counts / max(reference_counts.sum(), 1)
    current_share = current_counts / max(current_counts.sum(), 1)
    moved = int(np.argmax(np.abs(current_share - reference_share)))
    if moved == 0:
        where = f"at or below {_value_text(float(edges[0]))}"
    elif moved == edges.size:
        where = f"above {_value_text(float(edges[-1]))}"
    else:
        where = f"{_value_text(float(edges[moved - 1]))} to {_value_text(float(edges[moved]))}"
    return f"{where}: {_shares_text(float(reference_share[moved]))} → {_shares_text(float(current_share[moved]))}"


def _as_numbers(column: pd.Series) -> np.ndarray:
    """Float64 values with NaN for missing; text that is not a number counts as missing, as when serving."""
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isinf(values), np.nan, values) if np.isinf(values).any() else values


def _binned(sorted_values: np.ndarray, edges: np.ndarray, *, missing: int) -> np.ndarray:
    """Counts per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing. Reads bin borders off the sorted
    values (one binary search per edge) instead of placing every value."""
    at_or_below = np.searchsorted(sorted_values, edges, side="right")
    borders = np.concatenate([[0], at_or_below, [sorted_values.size]])
    return np.append(np.diff(borders), missing)


def _ks_p_value(reference_sorted: np.ndarray, current_sorted: np.ndarray) -> float | None:
    """Two-sample Kolmogorov-Smirnov p-value.

    Up to ``KS_SCIPY_MAX_ROWS`` rows a side this is ``scipy.stats.ks_2samp`` (exact where it can be). Beyond, the
    same statistic D comes from the sorted arrays, and the p-value from the Kolmogorov limit distribution of
    sqrt(n·m/(n+m))·D: ks_2samp's finite-sample ``kstwo`` takes ~80 ms per column at 100k rows, the limit takes
    microseconds, and the two differ by a few percent of a p-value that is ~0 at that size anyway.
    """
    rows, other_rows = reference_sorted.size, current_sorted.size
    if max(rows, other_rows) <= KS_SCIPY_MAX_ROWS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "exact calculation unsuccessful": it falls back
            return _p_value(stats.ks_2samp(reference_sorted, current_sorted).pvalue)
    pooled = np.concatenate([reference_sorted, current_sorted])
    below_reference = np.searchsorted(reference_sorted, pooled, side="right") / rows
    below_current = np.searchsorted(current_sorted, pooled, side="right") / other_rows
    statistic = float(np.max(np.abs(below_reference - below_current)))
    effective_rows = rows * other_rows / (rows + other_rows)
    return _p_value(stats.kstwobign.sf(statistic * math.sqrt(effective_rows)))


def _level_counts(column: pd.Series) -> tuple[dict[str, int], int]:
    """Rows per level (as text, so 20 and "20" are one level) and the number of missing values."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    known = codes[codes >= 0]
    counts = np.bincount(known, minlength=len(uniques))
    by_level: dict[str, int] = {}
    for level, count in zip(uniques, counts.tolist(), strict=True):
        text = str(level)
        by_level[text] = by_level.get(text, 0) + count
    return by_level, int(codes.size - known.size)


def _category_drift(name: str, reference: pd.Series, current: pd.Series, *, threshold: float) -> FeatureDrift:
    reference_levels, reference_missing = _level_counts(reference)
    current_levels, current_missing = _level_counts(current)
    levels = sorted(reference_levels, key=lambda level: (-reference_levels[level], level))
    new_levels = sorted((level for level in current_levels if level not in reference_levels),
                        key=lambda level: (-current_levels[level], level))
    labels = [*levels, NEW_LEVEL, MISSING_LEVEL]
    reference_counts = np.array([reference_levels[level] for level in levels] + [0, reference_missing])
    current_counts = np.array([current_levels.get(level, 0) for level in levels]
                              + [sum(current_levels[level] for level in new_levels), current_missing])
    psi = population_stability_index(reference_counts, current_counts)
    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    p_value = None
    if table.shape[1] >= 2:
        p_value = _p_value(stats.chi2_contingency(table).pvalue)
    reference_share = reference_counts / max(reference_counts.sum(), 1)
    current_share = current_counts / max(current_counts.sum(), 1)
    change = np.abs(current_share - reference_share)
    change[-2] = 0.0  # new levels get their own sentence below
    facts = []
    if change.max() > 0:
        moved = int(np.argmax(change))
        facts.append(f"{labels[moved]} {_shares_text(float(reference_share[moved]))} → "
                     f"{_shares_text(float(current_share[moved]))}")
    if new_levels:
        shown = ", ".join(repr(level) for level in new_levels[:3])
        more = f" and {len(new_levels) - 3} more" if len(new_levels) > 3 else ""
        facts.append(f"unseen levels in {_shares_text(float(current_share[-2]))} of rows ({shown}{more})")
    detail = "; ".join([*facts, f"PSI {psi:.2f} ({_verdict(psi)})"])
    return FeatureDrift(feature=name, kind="category", psi=psi, test="chi2", p_value=p_value,
                        drifted=psi >= threshold, detail=detail)

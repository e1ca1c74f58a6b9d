"""Error by segment: where on the holdout the model is worst, by the first success metric.

Each categorical input's levels and each numeric input's quantile bins are scored as a segment. Only segments with
at least MIN_ROWS holdout rows count (a smaller one is noise); at most MAX_FEATURES inputs are looked at, the most
important first, so wide data stays quick. The worst segments, when worse than the whole holdout, come with a
bootstrap interval and one plain sentence (a binary segment also needs MIN_POSITIVES rows of the positive
class); the model card's limitations quote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.metrics.catalogue import error_of, label
from cairn.metrics.scoring import score, shown

MIN_ROWS = 30
MIN_POSITIVES = 10  # binary: rows of the positive class a segment needs (recall of two positives is noise)
MAX_FEATURES = 30
NUMERIC_BINS = 5
TOP_LEVELS = 20  # most frequent levels of a category looked at
WORST = 3
RESAMPLES = 300


@dataclass(frozen=True)
class Segment:
    feature: str
    condition: str  # "Neighborhood = Edwards", "Year_Built 1872-1954"
    rows: int
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    overall: float
    sentence: str


def worst_segments(frame: pd.DataFrame, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None, *,
                   metric: str, classes: np.ndarray | None, features: list[Any], ranked: list[str],
                   confidence: float, seed: int) -> list[Segment]:
    """The WORST segments worse than the whole holdout, worst first; `ranked` orders inputs (importance)."""
    def value_of(rows: np.ndarray) -> float | None:
        try:
            return score(metric, y[rows], predicted[rows], None if proba is None else proba[rows], classes=classes)
        except ValueError:  # one class only in the segment: AUC and its kin are undefined
            return None

    overall = value_of(np.arange(len(y)))
    if overall is None:
        return []
    positives = y == classes[-1] if classes is not None and len(classes) == 2 else None
    order = {name: position for position, name in enumerate(ranked)}
    chosen = sorted(features, key=lambda f: order.get(f.name, len(order)))[:MAX_FEATURES]
    found: list[tuple[float, str, str, np.ndarray]] = []
    for feature in chosen:
        if feature.name not in frame.columns:
            continue
        for condition, rows in _segments(frame[feature.name], feature):
            too_few = positives is not None and positives[rows].sum() < MIN_POSITIVES
            if len(rows) < MIN_ROWS or len(rows) == len(y) or too_few:
                continue
            value = value_of(rows)
            if value is not None and error_of(metric, value) > error_of(metric, overall):
                found.append((error_of(metric, value), feature.name, condition, rows))
    found.sort(key=lambda item: -item[0])
    segments, seen = [], set()
    for _, name, condition, rows in found:
        if name in seen:  # one segment per input: the worst three inputs say more than one input three times
            continue
        seen.add(name)
        segments.append(_segment(name, condition, rows, value_of, metric, overall, confidence, seed))
        if len(segments) == WORST:
            break
    return segments


def _segments(values: pd.Series, feature: Any) -> list[tuple[str, np.ndarray]]:
    if feature.kind == "number":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy("float64")
        known = ~np.isnan(numbers)
        if known.sum() < MIN_ROWS:
            return []
        edges = np.unique(np.quantile(numbers[known], np.linspace(0, 1, NUMERIC_BINS + 1)))
        if len(edges) < 3:
            return []
        parts = []
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            last = high == edges[-1]
            inside = known & (numbers >= low) & ((numbers <= high) if last else (numbers < high))
            parts.append((f"{feature.name} {_number(low)}-{_number(high)}", np.flatnonzero(inside)))
        if (~known).sum() >= MIN_ROWS:
            parts.append((f"{feature.name} missing", np.flatnonzero(~known)))
        return parts
    text = values.astype("string").fillna("(missing)").to_numpy(dtype=object)
    levels = pd.Series(text).value_counts().index[:TOP_LEVELS]
    return [(f"{feature.name} = {level}", np.flatnonzero(text == level)) for level in levels]


def _segment(name: str, condition: str, rows: np.ndarray, value_of: Any, metric: str, overall: float,
             confidence: float, seed: int) -> Segment:
    value = value_of(rows)
    rng = np.random.default_rng(seed)
    draws = [value_of(rows[rng.integers(0, len(rows), len(rows))]) for _ in range(RESAMPLES)]
    kept = np.array([d for d in draws if d is not None], dtype="float64")
    low = high = None
    if len(kept):
        tail = (1 - confidence) / 2 * 100
        low, high = (float(v) for v in np.percentile(kept, [tail, 100 - tail]))
    interval = f", {confidence:.0%} CI {shown(metric, low)}-{shown(metric, high)}" if low is not None else ""
    sentence = (f"The model is worst on rows with {condition}: {label(metric)} {shown(metric, value)}{interval}, "
                f"{len(rows)} rows, against {shown(metric, overall)} on the whole holdout.")
    return Segment(name, condition, len(rows), metric, float(value), low, high, float(overall), sentence)


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 10_000:  # years, counts
        return str(int(value))
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

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
"significant", so the p-value is reported, not used for the verdict. One check guards the other way: a small
window makes a large PSI by chance (a few hundred rows over a category of a hundred levels gave PSI 0.3 on rows
drawn from the training file itself), so a PSI over the threshold is drift only when the test says chance would
rarely give it (p below ``CHANCE``: for numbers the lower of Kolmogorov-Smirnov's and a chi-square test of the
missing rate, which KS does not see; for categories the chi-square on the PSI's bins, bins too sparse for it
pooled), and never when the window is too small to test; otherwise the detail says it is within chance.

The reference is read from statistics computed once at training (cairn.monitoring.reference), never from the
training rows, and the window is read as the model reads its inputs: numbers parsed as in training, categories
trimmed and folded by the encoder's own ``clean_text``, so the training file itself never drifts from itself.
``WindowDrift`` counts a window in one pass per column, in batches if it comes in batches.

Beside the per-feature verdict the report names new categories (with their share of rows), missing-rate changes
("missing 2% → 31%"), the drift of the model's own predictions (``predictions``), and, when asked, a domain
classifier's verdict on all features at once (cairn.monitoring.domain).

Logged requests are often partial records (``{"Gr_Liv_Area": 1656}``): the model imputes what was not sent, so an
unsent field is neither drift nor a "missing" value of the data. With ``sent`` (which requests carried each key),
a feature is judged on the requests that sent it; one sent in fewer than half of them (``MIN_SENT_SHARE``) is
reported as "not sent in N of M requests" and left out of the verdict: a handful of values is too few for a PSI
over ten bins, and scoring the imputed rest as missing would call every short request drift.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cairn.errors import DataError, Problem
from cairn.model.trained import FeatureSpec
from cairn.monitoring.reference import (
    SAMPLE_ROWS,
    CategoryReference,
    NumberReference,
    ReferenceStatistics,
    feature_values,
    is_numeric,
    level_counts,
    new_levels,
    number_reference,
    reference_statistics,
)
from cairn.words import name_list

__all__ = ["PSI_EPSILON", "DriftReport", "FeatureDrift", "MissingChange", "NewCategories", "WindowDrift",
           "WindowTally", "counted_window", "empty_window", "feature_drift", "generator_at", "judged_window",
           "population_stability_index"]

PSI_EPSILON = 1e-4
MISSING_LEVEL = "(missing)"
NEW_LEVEL = "(new)"
MODERATE_PSI = 0.1
CHANCE = 0.01  # a PSI over the threshold is drift when its test's p-value is below this
POOLED_BELOW = 5.0  # bins expected to hold fewer rows on a side are pooled for the chi-square test
MAJOR_PSI = 0.25
MIN_SENT_SHARE = 0.5
"""A feature sent in fewer than this share of the logged requests is reported, not judged."""
PREDICTION_ROWS = 200_000
"""The model answers on at most about this many rows of a window for prediction drift (a uniform sample beyond)."""
MISSING_CHANGE = 0.05
"""A missing rate that moved by at least this much (absolute) is named in the report."""
NEW_LEVELS_SHOWN = 3


@dataclass(frozen=True)
class FeatureDrift:
    """How far one feature moved between the reference and the current data."""

    feature: str
    kind: str  # "number" | "category"
    psi: float  # population stability index, reference vs current
    test: str  # "ks" (two-sample Kolmogorov-Smirnov) or "chi2" (scipy.stats.chi2_contingency): the p-value's test
    p_value: float | None  # None when the test cannot run (no values on one side, a single bin)
    drifted: bool  # psi >= threshold, beyond chance (CHANCE)
    detail: str  # a plain sentence, e.g. "mean 1,500 → 1,720; PSI 0.31 (major shift)"
    judged: bool = True  # False: too rarely sent in the requests to judge (psi is NaN), left out of the verdict


@dataclass(frozen=True)
class NewCategories:
    """Levels of a category the training rows never had, most frequent first, with their share of the rows."""

    feature: str
    share: float  # of the current rows (that sent the feature)
    levels: list[tuple[str, float]]  # (level as written, share of rows), most frequent first

    def text(self) -> str:
        shown = ", ".join(f"{level!r} {_shares_text(share)}" for level, share in self.levels[:NEW_LEVELS_SHOWN])
        more = f" and {len(self.levels) - NEW_LEVELS_SHOWN} more" if len(self.levels) > NEW_LEVELS_SHOWN else ""
        return f"{self.feature}: new levels in {_shares_text(self.share)} of rows ({shown}{more})"


@dataclass(frozen=True)
class MissingChange:
    """A feature whose share of missing values moved by ``MISSING_CHANGE`` or more."""

    feature: str
    reference: float
    current: float

    def text(self) -> str:
        return f"{self.feature}: missing {_shares_text(self.reference)} → {_shares_text(self.current)}"


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift, most drifted first; what else moved beside them."""

    features: list[FeatureDrift]
    threshold: float
    reference_rows: int
    current_rows: int
    new_categories: list[NewCategories] = field(default_factory=list)
    missing_changes: list[MissingChange] = field(default_factory=list)
    predictions: list[FeatureDrift] = field(default_factory=list)  # the model's outputs, reference vs current
    domain: Any = None  # cairn.monitoring.domain.DomainDrift, when the classifier ran

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

    @property
    def prediction_drifted(self) -> bool:
        return any(prediction.drifted for prediction in self.predictions)

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
            "new_categories": [{"feature": new.feature, "share": new.share,
                                "levels": [{"level": level, "share": share} for level, share in new.levels],
                                "text": new.text()} for new in self.new_categories],
            "missing_changes": [asdict(change) | {"text": change.text()} for change in self.missing_changes],
            "predictions": [asdict(prediction) for prediction in self.predictions],
            "domain": self.domain.to_dict() if self.domain is not None else None,
        }


def population_stability_index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI of two histograms over the same bins (counts, not shares); shares are floored at ``PSI_EPSILON``."""
    reference = np.asarray(reference_counts, dtype="float64")
    current = np.asarray(current_counts, dtype="float64")
    reference_share = np.maximum(reference / max(reference.sum(), 1.0), PSI_EPSILON)
    current_share = np.maximum(current / max(current.sum(), 1.0), PSI_EPSILON)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def feature_drift(reference: pd.DataFrame | ReferenceStatistics, current: pd.DataFrame, *,
                  features: Sequence[FeatureSpec], threshold: float = 0.2, bins: int = 10,
                  sent: Mapping[str, np.ndarray] | None = None, normalize: bool = True) -> DriftReport:
    """Per-feature drift of ``current`` against ``reference`` (training rows, or their statistics computed once),
    most drifted first.

    ``sent``, for logged requests: per feature, a boolean per row of ``current``, whether that request carried
    the key. A feature is then judged on the rows that sent it, or not judged when fewer than ``MIN_SENT_SHARE``
    of them did (a feature named in ``sent`` may be absent from ``current``). Unjudged features come last.
    ``normalize``: categories compared with case and inner spaces folded, as preprocessing.normalize_categories
    makes the model read them (statistics carry their own).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise ValueError(f"The threshold parameter of feature_drift must be a number > 0. Got {threshold!r} instead.")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"The bins parameter of feature_drift must be an int >= 2. Got {bins!r} instead.")
    if not features:
        raise ValueError("The features parameter of feature_drift must list at least one feature. Got [] instead.")
    if isinstance(reference, pd.DataFrame):
        _check_columns(reference.columns, len(reference), current, features,
                       optional=set(sent) if sent is not None else set())
        reference = reference_statistics(reference, features, bins=bins, normalize=normalize, sample_rows=0)
    else:
        _check_columns(reference.features.keys(), reference.rows, current, features,
                       optional=set(sent) if sent is not None else set())
    window = WindowDrift(reference, features)
    window.add(current, sent=sent)
    return window.report(threshold=threshold)


def generator_at(seed: int, offset: int) -> np.random.Generator:
    """``np.random.default_rng(seed)`` as it stands after ``offset`` doubles were drawn (PCG64 jumps there at no
    cost): a partition starting at row ``offset`` of a window draws the very keys a single pass would give its
    rows, so partitions counted apart and merged keep the same samples as one pass."""
    bits = np.random.PCG64(seed)
    if offset:
        bits.advance(offset)
    return np.random.Generator(bits)


@dataclass
class WindowTally:
    """What a window counted, without the reference it was counted against: what a partition counted on a worker
    sends back to be merged (``WindowDrift.merge``), a few kilobytes per feature and the kept sample."""

    rows: int
    sent_rows: dict[str, int]
    counts: dict[str, _NumberCounts | _LevelTally]
    prediction_counts: list[_NumberCounts | _LevelTally]
    sample: pd.DataFrame | None
    sample_keys: np.ndarray
    fully_sent: set[str]


class WindowDrift:
    """Counts of a window against reference statistics, added batch by batch; ``report`` judges them.

    Every count is a sum over rows, so ``add`` of two halves equals ``add`` of the whole, and windows counted
    apart (partitions on Dask workers) ``merge`` into the counts of the whole. Each column costs one binary search
    per value into the reference's sketch (which holds the PSI edges too) and two bincounts; a category one
    factorize. A uniform sample of up to ``sample_rows`` rows is kept for the domain classifier (bottom-k of
    random keys, one key per row, so batches do not bias it and merged partitions keep the bottom-k of all rows);
    ``row_offset``: the window's first row in a larger one, so its keys are those a single pass would draw.
    """

    def __init__(self, reference: ReferenceStatistics, features: Sequence[FeatureSpec], *,
                 prediction_reference: Sequence[tuple[FeatureSpec, NumberReference | CategoryReference]] = (),
                 sample_rows: int = 0, seed: int = 0, row_offset: int = 0):
        self.reference = reference
        self.features = [feature for feature in features]
        self.prediction_reference = list(prediction_reference)
        self.rows = 0
        self.sent_rows: dict[str, int] = {}  # features with a `sent` mask: rows that sent them
        self.counts: dict[str, _NumberCounts | _LevelTally] = {}
        for feature in self.features:
            self.counts[feature.name] = self._empty(reference.features[feature.name])
        self.prediction_counts = [self._empty(ref) for _, ref in self.prediction_reference]
        self.sample_rows = sample_rows
        self._random = generator_at(seed, row_offset)
        self._sample: pd.DataFrame | None = None
        self._sample_keys = np.empty(0)
        self.fully_sent: set[str] = {feature.name for feature in self.features}

    @staticmethod
    def _empty(reference: NumberReference | CategoryReference) -> _NumberCounts | _LevelTally:
        if isinstance(reference, NumberReference):
            return _NumberCounts.empty(reference.sketch.size)
        return _LevelTally()

    def add(self, current: pd.DataFrame, *, sent: Mapping[str, np.ndarray] | None = None,
            predictions: Sequence[np.ndarray] = ()) -> None:
        """Count one batch; ``predictions``: the model's outputs on it, one array per prediction reference."""
        rows = len(current)
        self.rows += rows
        for feature in self.features:
            mask = sent.get(feature.name) if sent is not None else None
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                self.sent_rows[feature.name] = self.sent_rows.get(feature.name, 0) + int(np.count_nonzero(mask))
                if not bool(mask.all()):
                    self.fully_sent.discard(feature.name)
            if feature.name in current.columns:
                values = feature_values(current, feature)
            else:  # sent by no request
                values = np.full(rows, np.nan, dtype="float64" if is_numeric(feature) else object)
                self.fully_sent.discard(feature.name)
            if mask is not None and not bool(mask.all()):
                values = values[mask]
            self._count(self.reference.features[feature.name], self.counts[feature.name], values,
                        normalize=self.reference.normalize)
        for (_, reference), counts, values in zip(self.prediction_reference, self.prediction_counts, predictions,
                                                  strict=False):  # the model's classes, as it spells them
            self._count(reference, counts, np.asarray(values), normalize=False)
        if self.sample_rows and rows:
            self._keep_sample(current)

    @staticmethod
    def _count(reference: NumberReference | CategoryReference, counts: _NumberCounts | _LevelTally,
               values: np.ndarray, *, normalize: bool) -> None:
        """``normalize``: categories keyed with case and spaces folded, as their reference was keyed."""
        if isinstance(counts, _NumberCounts):
            assert isinstance(reference, NumberReference)
            counts.add(reference, np.asarray(values, dtype="float64"))
        else:
            assert isinstance(reference, CategoryReference)
            counts.add(level_counts(values, normalize=normalize, known=reference.counts))

    def _keep_sample(self, current: pd.DataFrame) -> None:
        names = [feature.name for feature in self.features if feature.name in current.columns]
        keys = self._random.random(len(current))
        if len(current) > self.sample_rows:
            chosen = np.argpartition(keys, self.sample_rows)[:self.sample_rows]
        else:
            chosen = np.arange(len(current))
        self._take_sample(current.iloc[chosen][names].reset_index(drop=True), keys[chosen])

    def _take_sample(self, batch: pd.DataFrame, keys: np.ndarray) -> None:
        """Rows with their random keys into the sample, which keeps the ``sample_rows`` smallest keys."""
        if self._sample is None:
            self._sample, self._sample_keys = batch, keys
        else:
            self._sample = pd.concat([self._sample, batch], ignore_index=True)
            self._sample_keys = np.concatenate([self._sample_keys, keys])
        if len(self._sample) > self.sample_rows:
            kept = np.argpartition(self._sample_keys, self.sample_rows)[:self.sample_rows]
            self._sample, self._sample_keys = self._sample.iloc[kept].reset_index(drop=True), self._sample_keys[kept]

    @property
    def sample(self) -> pd.DataFrame | None:
        """The uniform sample of the window's rows kept so far (None when ``sample_rows`` is 0), in key order: the
        same rows in the same order however the window was batched or partitioned (the domain classifier's folds
        depend on the order)."""
        if self._sample is None:
            return None
        return self._sample.iloc[np.argsort(self._sample_keys, kind="stable")].reset_index(drop=True)

    def tally(self) -> WindowTally:
        """The counts alone, to send to whoever merges them (the reference stays where it is)."""
        return WindowTally(rows=self.rows, sent_rows=dict(self.sent_rows), counts=self.counts,
                           prediction_counts=self.prediction_counts, sample=self._sample,
                           sample_keys=self._sample_keys, fully_sent=set(self.fully_sent))

    def merge(self, other: WindowTally | WindowDrift) -> None:
        """Add the counts of a window counted apart against the same reference (another partition): every count
        is a sum, the samples keep the ``sample_rows`` smallest keys of both. Merged in row order, the result
        equals one pass over all rows (new levels keep their first spelling)."""
        tally = other.tally() if isinstance(other, WindowDrift) else other
        if set(tally.counts) != set(self.counts) or len(tally.prediction_counts) != len(self.prediction_counts):
            raise ValueError("The other window of WindowDrift.merge must count the same features and predictions. "
                             f"Got {sorted(tally.counts)} instead of {sorted(self.counts)}.")
        self.rows += tally.rows
        for name, count in tally.sent_rows.items():
            self.sent_rows[name] = self.sent_rows.get(name, 0) + count
        for name, counts in tally.counts.items():
            self.counts[name].merge(counts)  # type: ignore[arg-type]
        for mine, theirs in zip(self.prediction_counts, tally.prediction_counts, strict=True):
            mine.merge(theirs)  # type: ignore[arg-type]
        self.fully_sent &= tally.fully_sent
        if self.sample_rows and tally.sample is not None and len(tally.sample):
            self._take_sample(tally.sample, tally.sample_keys)

    def report(self, *, threshold: float, domain: Any = None) -> DriftReport:
        results: list[FeatureDrift] = []
        new_categories: list[NewCategories] = []
        missing_changes: list[MissingChange] = []
        rows = self.rows
        for feature in self.features:
            reference, counts = self.reference.features[feature.name], self.counts[feature.name]
            prefix = None
            if feature.name in self.sent_rows and self.sent_rows[feature.name] < rows:
                count = self.sent_rows[feature.name]
                prefix = f"not sent in {rows - count:,} of {rows:,} requests"
                if count < MIN_SENT_SHARE * rows:
                    results.append(FeatureDrift(
                        feature=feature.name, kind=feature.kind, psi=math.nan,
                        test="ks" if is_numeric(feature) else "chi2", p_value=None,
                        drifted=False, judged=False, detail=f"{prefix} (imputed): left out of the verdict"))
                    continue
                prefix += f"; judged on the {count:,} that sent it"
            if isinstance(counts, _NumberCounts):
                assert isinstance(reference, NumberReference)
                result = _number_drift(feature.name, reference, counts, threshold=threshold)
                current_missing = counts.missing_rate
            else:
                assert isinstance(reference, CategoryReference)
                result, new = _category_drift(feature.name, reference, counts, threshold=threshold)
                if new is not None:
                    new_categories.append(new)
                current_missing = counts.missing / counts.rows if counts.rows else 0.0
            if abs(current_missing - reference.missing_rate) >= MISSING_CHANGE:
                missing_changes.append(MissingChange(feature.name, reference.missing_rate, current_missing))
            results.append(result if prefix is None else replace(result, detail=f"{prefix}; {result.detail}"))
        results.sort(key=lambda result: (not result.judged, -result.psi if result.judged else 0.0, result.feature))
        predictions = []
        for (spec, reference), counts in zip(self.prediction_reference, self.prediction_counts, strict=True):
            if not counts.rows:
                continue
            if isinstance(counts, _NumberCounts):
                assert isinstance(reference, NumberReference)
                result = _number_drift(spec.name, reference, counts, threshold=threshold)
            else:
                assert isinstance(reference, CategoryReference)
                result = _category_drift(spec.name, reference, counts, threshold=threshold)[0]
            sampled = f"on {counts.rows:,} of the {rows:,} rows, sampled; " if counts.rows < rows else ""
            predictions.append(replace(result, kind="prediction", detail=sampled + result.detail))
        new_categories.sort(key=lambda new: (-new.share, new.feature))
        missing_changes.sort(key=lambda change: (-abs(change.current - change.reference), change.feature))
        return DriftReport(features=results, threshold=float(threshold), reference_rows=self.reference.rows,
                           current_rows=rows, new_categories=new_categories, missing_changes=missing_changes,
                           predictions=predictions, domain=domain)


@dataclass
class _NumberCounts:
    """A number's window counts against its reference sketch (sums over rows, so batches add up)."""

    at_or_below: np.ndarray  # known values <= each sketch point
    equal: np.ndarray  # known values == each sketch point
    known: int = 0
    rows: int = 0
    total: float = 0.0

    @classmethod
    def empty(cls, points: int) -> _NumberCounts:
        return cls(np.zeros(points, dtype="int64"), np.zeros(points, dtype="int64"))

    @property
    def missing_rate(self) -> float:
        return 1 - self.known / self.rows if self.rows else 0.0

    def add(self, reference: NumberReference, values: np.ndarray) -> None:
        missing = np.isnan(values)
        known = values[~missing] if missing.any() else values
        self.rows += values.size
        self.known += known.size
        self.total += float(known.sum())
        points = reference.sketch.size
        if not points or not known.size:
            return
        values, weights = _distinct_whole_numbers(known)
        slot = np.searchsorted(reference.sketch, values, side="left")  # sketch[slot - 1] < x <= sketch[slot]
        per_slot = np.bincount(slot, weights=weights, minlength=points + 1)[:points]
        self.at_or_below += np.cumsum(per_slot).round().astype("int64")
        inside = np.minimum(slot, points - 1)
        hit = reference.sketch[inside] == values
        self.equal += np.bincount(inside[hit], weights=None if weights is None else weights[hit],
                                  minlength=points).round().astype("int64")

    def merge(self, other: _NumberCounts) -> None:
        """The counts of both windows: every field is a sum over rows."""
        self.at_or_below += other.at_or_below
        self.equal += other.equal
        self.known += other.known
        self.rows += other.rows
        self.total += other.total

    def bin_counts(self, reference: NumberReference) -> np.ndarray:
        """Rows per PSI bin of the reference, then the missing rows."""
        at_edges = self.at_or_below[reference.edge_positions] if reference.edges.size else np.empty(0, "int64")
        borders = np.concatenate([[0], at_edges, [self.known]])
        return np.append(np.diff(borders), self.rows - self.known)


WHOLE_NUMBERS_MIN_ROWS = 50_000


def _distinct_whole_numbers(known: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Counts, years, square feet: whole numbers over a range no wider than the rows are counted per value first
    (one bincount), so the binary search runs over the distinct values, not every row (10x faster at 1M rows).
    Anything else comes back as is, with no weights."""
    if known.size < WHOLE_NUMBERS_MIN_ROWS:
        return known, None
    low, high = float(known.min()), float(known.max())
    if high - low > 4 * known.size or not bool(np.all(np.floor(known) == known)):
        return known, None
    per_value = np.bincount((known - low).astype("int64"))
    present = np.flatnonzero(per_value)
    return low + present.astype("float64"), per_value[present].astype("float64")


@dataclass
class _LevelTally:
    """A category's window counts: rows per level key, missing rows, and how each key was spelt."""

    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0
    spelling: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values()) + self.missing

    def add(self, levels: Any) -> None:
        for key, count in levels.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
            self.spelling.setdefault(key, levels.spelling[key])
        self.missing += levels.missing

    def merge(self, other: _LevelTally) -> None:
        """The tallies of both windows; a level keeps the spelling it was first seen with (merge in row order)."""
        self.add(other)


def _check_columns(reference_columns: Any, reference_rows: int, current: pd.DataFrame,
                   features: Sequence[FeatureSpec], *, optional: set[str]) -> None:
    """Every problem at once: missing columns on either side (but ``optional`` ones in current), and empty frames."""
    problems: list[Problem] = []
    missing_by_side: dict[str, list[str]] = {}
    for side, columns, rows in (("reference", reference_columns, reference_rows),
                                ("current", current.columns, len(current))):
        present = {str(column) for column in columns}
        absent = [feature.name for feature in features if feature.name not in present
                  and (side == "reference" or feature.name not in optional)]
        missing_by_side[side] = absent
        for name in absent:
            close = difflib.get_close_matches(name, sorted(present), n=1, cutoff=0.8)
            fix = (f"rename {close[0]!r} to {name!r}" if close else
                   f"add a {name!r} column (empty values are fine: they are counted as missing)")
            problems.append(Problem(where=f"{side} data, column {name!r}",
                                    expected="a column the model was trained on", got="no such column", fix=fix))
        if rows == 0:
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


def ks_statistic(reference: NumberReference, counts: _NumberCounts) -> float:
    """The largest gap between the two distribution functions over the sketch points, at and just before each
    (exact when the sketch holds every distinct reference value; see cairn.monitoring.reference)."""
    current_at_or_below = counts.at_or_below / counts.known
    current_below = (counts.at_or_below - counts.equal) / counts.known
    gaps = np.concatenate([np.abs(reference.at_or_below - current_at_or_below),
                           np.abs(reference.below - current_below)])
    return float(gaps.max()) if gaps.size else 0.0


def _ks_p_value(reference: NumberReference, counts: _NumberCounts) -> float | None:
    """Kolmogorov limit distribution of sqrt(n·m/(n+m))·D, n and m the known values on each side."""
    statistic = ks_statistic(reference, counts)
    effective_rows = reference.known * counts.known / (reference.known + counts.known)
    return _p_value(stats.kstwobign.sf(statistic * math.sqrt(effective_rows)))


def _number_drift(name: str, reference: NumberReference, counts: _NumberCounts, *, threshold: float
                  ) -> FeatureDrift:
    reference_counts = reference.counts
    current_counts = counts.bin_counts(reference)
    psi = population_stability_index(reference_counts, current_counts)
    p_value = _ks_p_value(reference, counts) if reference.known and counts.known else None
    facts = []
    if reference.known and counts.known:
        facts.append(f"mean {_value_text(reference.mean)} → {_value_text(counts.total / counts.known)}")
    elif not counts.known:
        facts.append("no values in the current data")
    else:
        facts.append("no values in the reference data")
    if _shares_text(reference.missing_rate) != _shares_text(counts.missing_rate):
        facts.append(f"missing {_shares_text(reference.missing_rate)} → {_shares_text(counts.missing_rate)}")
    if psi >= MODERATE_PSI and reference.edges.size:
        facts.append(_moved_bin(reference.edges, reference_counts[:-1], current_counts[:-1]))
    # the verdict's p-value is the one reported: Kolmogorov-Smirnov's on the values, or a chi-square test of the
    # missing rate when that is lower (KS does not see missing values)
    missing, test = _histogram_p_value(_known_and_missing(reference_counts), _known_and_missing(current_counts)), "ks"
    if p_value is None or (missing is not None and missing < p_value):
        p_value, test = missing, "chi2"
    drifted, chance = _beyond_chance(psi, threshold, p_value)
    detail = "; ".join([*facts, f"PSI {psi:.2f} ({_verdict(psi)}{chance})"])
    return FeatureDrift(feature=name, kind="number", psi=psi, test=test, p_value=p_value, drifted=drifted,
                        detail=detail)


def _known_and_missing(counts: np.ndarray) -> np.ndarray:
    """A number's bin counts (the missing bin last) as two: rows with a value, rows without."""
    return np.array([counts[:-1].sum(), counts[-1]])


def _histogram_p_value(reference_counts: np.ndarray, current_counts: np.ndarray) -> float | None:
    """The chi-square test of homogeneity on the PSI's own bins, bins too sparse for its approximation pooled
    (``_pooled``: over 500 levels, a 100-row window read a level's jump from 15% to over half as chance); None
    when a side is empty or the window is too small for two bins."""
    table = np.vstack([reference_counts, current_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    sides = table.sum(axis=1)
    if table.shape[1] < 2 or not sides.all():
        return None
    table = _pooled(table, table.sum(axis=0) * sides.min() / sides.sum())
    if table.shape[1] < 2:
        return None
    return _p_value(stats.chi2_contingency(table, correction=False).pvalue)


def _pooled(table: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The bins (columns) where the smaller side expects fewer than ``POOLED_BELOW`` rows, pooled, the sparsest
    first, into groups that expect that many (what is left joins the last group): 300 levels under a 50-row window
    become ten bins of about thirty levels."""
    sparse = np.flatnonzero(expected < POOLED_BELOW)
    if not sparse.size:
        return table
    groups: list[list[int]] = []
    group: list[int] = []
    total = 0.0
    for column in sparse[np.argsort(expected[sparse], kind="stable")]:
        group.append(int(column))
        total += float(expected[column])
        if total >= POOLED_BELOW:
            groups.append(group)
            group, total = [], 0.0
    if group:
        if groups:
            groups[-1] += group
        else:
            groups.append(group)
    dense = table[:, expected >= POOLED_BELOW]
    return np.hstack([dense, *(table[:, members].sum(axis=1, keepdims=True) for members in groups)])


def _beyond_chance(psi: float, threshold: float, p_value: float | None) -> tuple[bool, str]:
    """Whether a PSI is drift (over the threshold, and rarely reached by chance at this many rows: see the module's
    docstring), and the words the detail adds when chance may be to blame."""
    if psi < threshold:
        return False, ""
    if p_value is None:
        return False, ", too few rows to tell from chance"
    if p_value >= CHANCE:
        return False, f", within chance for this many rows: p = {p_value:.2f}"
    return True, ""


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


def _category_drift(name: str, reference: CategoryReference, tally: _LevelTally, *, threshold: float
                    ) -> tuple[FeatureDrift, NewCategories | None]:
    reference_levels, current_levels = reference.counts, tally.counts
    levels = sorted(reference_levels, key=lambda level: (-reference_levels[level], level))
    # a level the model never saw may be personal data typed into the field: masked as the prediction log masks
    # it, since the report, its JSON and the webhook all carry it
    spelt = new_levels(current_levels, tally.spelling, reference_levels)
    labels = [*(reference.spelling.get(level, level) for level in levels), NEW_LEVEL, MISSING_LEVEL]
    reference_counts = np.array([reference_levels[level] for level in levels] + [0, reference.missing])
    current_counts = np.array([current_levels.get(level, 0) for level in levels]
                              + [sum(current_levels[level] for level in spelt), tally.missing])
    psi = population_stability_index(reference_counts, current_counts)
    p_value = _histogram_p_value(reference_counts, current_counts)
    reference_share = reference_counts / max(reference_counts.sum(), 1)
    current_share = current_counts / max(current_counts.sum(), 1)
    change = np.abs(current_share - reference_share)
    change[-2] = 0.0  # new levels get their own sentence below
    facts = []
    if change.max() > 0:
        moved = int(np.argmax(change))
        facts.append(f"{labels[moved]} {_shares_text(float(reference_share[moved]))} → "
                     f"{_shares_text(float(current_share[moved]))}")
    new = None
    if spelt:
        rows = max(int(current_counts.sum()), 1)
        new = NewCategories(feature=name, share=float(current_share[-2]),
                            levels=[(masked, current_levels[level] / rows) for level, masked in spelt.items()])
        shown = name_list([repr(masked) for masked in spelt.values()], NEW_LEVELS_SHOWN)
        facts.append(f"unseen levels in {_shares_text(float(current_share[-2]))} of rows ({shown})")
    drifted, chance = _beyond_chance(psi, threshold, p_value)
    detail = "; ".join([*facts, f"PSI {psi:.2f} ({_verdict(psi)}{chance})"])
    return FeatureDrift(feature=name, kind="category", psi=psi, test="chi2", p_value=p_value,
                        drifted=drifted, detail=detail), new


# the model's outputs ---------------------------------------------------------------------------------------------
def prediction_outputs(model: Any, table: pd.DataFrame, *, protected: bool = False
                       ) -> tuple[list[FeatureSpec], list[np.ndarray]]:
    """What prediction drift compares: the prediction (regression), the positive class's probability and the
    predicted class (binary), the predicted class (multiclass); each as a named spec and its values.
    ``protected``: `table`'s personal columns are hashed or masked already, as the model reads them."""
    labels, probabilities = model.answer(model.inputs(table, protected=protected))
    if model.problem == "regression":
        return [FeatureSpec("prediction", "number")], [np.asarray(labels, dtype="float64")]
    classes = np.asarray(labels, dtype=object).astype(str)
    if model.problem == "binary" and probabilities is not None:
        positive = model.positive_class if model.positive_class is not None else (model.classes or [None, 1])[-1]
        return ([FeatureSpec(f"probability of {positive}", "number"), FeatureSpec("predicted class", "category")],
                [np.asarray(probabilities[:, model.positive_column], dtype="float64"), classes])
    return [FeatureSpec("predicted class", "category")], [classes]


def prediction_reference(model: Any, sample: pd.DataFrame, *, bins: int
                         ) -> list[tuple[FeatureSpec, NumberReference | CategoryReference]]:
    """`model`'s outputs on `sample`, as references: at training, the judged model's on the holdout (rows it never
    learned, as new rows will be); for a baseline saved without them, the served model's on the reference sample."""
    if not len(sample):
        return []
    specs, outputs = prediction_outputs(model, sample, protected=True)  # a sample or holdout as the model reads it
    references: list[tuple[FeatureSpec, NumberReference | CategoryReference]] = []
    for spec, values in zip(specs, outputs, strict=True):
        if spec.kind == "number":
            references.append((spec, number_reference(spec.name, values, bins=bins)))
        else:
            levels = level_counts(values, normalize=False)
            references.append((spec, CategoryReference(spec.name, levels.counts, levels.missing, levels.spelling,
                                                        levels.rows)))
    return references


def baseline_predictions(baseline: Any, model: Any) -> list[tuple[FeatureSpec, NumberReference | CategoryReference]]:
    """The references of `model`'s outputs: for a number (the prediction, a class's probability) the baseline's
    own, the judged model's answers on its holdout, rows it never learned (an overfit model answers its own rows
    surer than any new one); for the predicted class, and for a baseline saved without its own, `model`'s answers
    on the reference sample, where every class the served model knows has its rows."""
    statistics = statistics_of(baseline)
    fresh = prediction_reference(model, statistics.sample, bins=statistics.bins)
    kept = {output.name: reference for output, reference in getattr(baseline, "predictions", None) or ()}
    return [(output, kept.get(output.name, reference)) for output, reference in fresh]


def statistics_of(baseline: Any) -> ReferenceStatistics:
    """The baseline's reference statistics; a baseline saved before them holds training rows instead
    (``reference``): the statistics are built from those on the fly (categories normalised, the default)."""
    statistics = getattr(baseline, "statistics", None)
    if statistics is not None:
        return statistics  # type: ignore[no-any-return]
    return reference_statistics(baseline.reference, baseline.features, bins=baseline.bins, normalize=True,
                                sample_rows=SAMPLE_ROWS, parsed=True)


def window_drift(baseline: Any, current: pd.DataFrame, *, model: Any, sent: Mapping[str, np.ndarray] | None = None,
                 domain: bool = True, seed: int = 0, threshold: float | None = None, protected: bool = False
                 ) -> DriftReport:
    """The drift of a window against a model's monitoring baseline (cairn.stages.monitoring.MonitoringBaseline):
    every feature read as the model reads it (personal columns protected as in training), the model's answers
    against their references (``baseline_predictions``), and the domain classifier (``domain``).
    ``threshold``: the PSI that counts as drifted (default: the baseline's, monitoring.drift.threshold)."""
    return batched_window_drift(baseline, [current], model=model, sent=[sent] if sent is not None else None,
                                domain=domain, seed=seed, threshold=threshold, total_rows=len(current),
                                protected=protected)


def batched_window_drift(baseline: Any, batches: Iterable[pd.DataFrame], *, model: Any,
                         sent: Sequence[Mapping[str, np.ndarray]] | None = None, domain: bool = True, seed: int = 0,
                         threshold: float | None = None, total_rows: int | None = None,
                         prediction_rows: int = PREDICTION_ROWS, protected: bool = False) -> DriftReport:
    """``window_drift`` of a window that comes in batches (a large Parquet file read a row group at a time): each
    batch is counted and dropped, so memory holds one batch, the counts and a 5,000-row sample. The columns are
    checked on the first batch; ``sent``, one mask mapping per batch.

    The model answers on every row of a window up to ``prediction_rows`` rows, beyond on a uniform sample of about
    that many (``total_rows``, when known, sets the share drawn from each batch): predicting costs far more than
    counting, and the PSI of 200,000 predictions is already within ~0.001 of that of all of them."""
    window = counted_window(baseline, batches, model=model, sent=sent, domain=domain, seed=seed,
                            total_rows=total_rows, prediction_rows=prediction_rows, protected=protected)
    if window is None or not window.rows:
        _no_rows(baseline, model)
    assert window is not None
    return judged_window(window, baseline=baseline, threshold=threshold, domain=domain, seed=seed)


def counted_window(baseline: Any, batches: Iterable[pd.DataFrame], *, model: Any,
                   sent: Sequence[Mapping[str, np.ndarray]] | None = None, domain: bool = True, seed: int = 0,
                   total_rows: int | None = None, prediction_rows: int = PREDICTION_ROWS, row_offset: int = 0,
                   protected: bool = False) -> WindowDrift | None:
    """The counts of ``batched_window_drift``, not yet judged (None when there was no batch at all): what one
    partition of a window gives on a Dask worker, to be merged with the others (``WindowDrift.merge``).
    ``row_offset``: the partition's first row in the window and ``total_rows`` the window's rows, so the sample
    keys and the rows the model answers on are those of a single pass over the whole window.
    ``protected``: the rows' personal columns are hashed or masked already (logged requests), not to be again.
    """
    statistics = statistics_of(baseline)
    features = model.features
    outputs: list[tuple[FeatureSpec, NumberReference | CategoryReference]] | None = None
    window: WindowDrift | None = None
    share = 1.0 if total_rows is None or total_rows <= prediction_rows else prediction_rows / total_rows
    chooser = generator_at(seed + 1, row_offset)
    for index, current in enumerate(batches):
        masks = sent[index] if sent is not None else None
        if window is None:
            _check_columns(statistics.features.keys(), statistics.rows, current, features,
                           optional=set(masks) if masks is not None else set())
            outputs = baseline_predictions(baseline, model)
            window = WindowDrift(statistics, features, prediction_reference=outputs,
                                 sample_rows=SAMPLE_ROWS if domain else 0, seed=seed, row_offset=row_offset)
        if not len(current):
            continue
        hidden = current if protected else model.protected(current)  # personal columns hashed once
        predicted: Sequence[np.ndarray] = ()
        if outputs:
            scored = hidden if share >= 1.0 else hidden.iloc[np.flatnonzero(chooser.random(len(hidden)) < share)]
            predicted = prediction_outputs(model, scored, protected=True)[1] if len(scored) else ()
        window.add(hidden, sent=masks, predictions=predicted)
    return window


def empty_window(baseline: Any, *, model: Any, domain: bool = True, seed: int = 0) -> WindowDrift:
    """A window with no row yet, against the baseline: where partitions counted apart are merged."""
    statistics = statistics_of(baseline)
    return WindowDrift(statistics, model.features, prediction_reference=baseline_predictions(baseline, model),
                       sample_rows=SAMPLE_ROWS if domain else 0, seed=seed)


def judged_window(window: WindowDrift, *, baseline: Any, threshold: float | None = None, domain: bool = True,
                  seed: int = 0) -> DriftReport:
    """The report of a counted window: the baseline's threshold unless ``threshold``, the domain classifier on the
    kept sample when ``domain``."""
    return window.report(threshold=baseline.threshold if threshold is None else threshold,
                         domain=_domain_of(window, seed=seed) if domain else None)


def _no_rows(baseline: Any, model: Any) -> None:
    """A window with no row at all: said as for a current table with no rows (``_check_columns``)."""
    statistics = statistics_of(baseline)
    _check_columns(statistics.features.keys(), statistics.rows,
                   pd.DataFrame(columns=[f.name for f in model.features]), model.features, optional=set())


def _domain_of(window: WindowDrift, *, seed: int) -> Any:
    """The domain classifier on the features every row sent (an unsent field would separate by itself)."""
    from cairn.monitoring.domain import domain_drift

    sample, reference = window.sample, window.reference.sample
    features = [f for f in window.features if f.name in window.fully_sent and f.name in reference.columns]
    if sample is None or not features:
        return None
    return domain_drift(reference, sample, features=features, normalize=window.reference.normalize, seed=seed,
                        reference_parsed=window.reference.parsed)

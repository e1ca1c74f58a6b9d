"""Everything the run report shows, as plain frozen values.

The runner fills a ``ReportContext`` from what the stages returned; ``render.py`` only formats it. Keeping the
context free of behaviour means the report can be rebuilt from a stored run without re-running anything, and a
test can build one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cairn.report.explanations import ExplanationsSection


class Figure(Protocol):
    """A chart as the report shows it (cairn.plots.Figure): the report needs no matplotlib to render."""

    title: str
    caption: str
    png_base64: str


class Exploration(Protocol):
    """What the EDA stage found, as the report reads it (cairn.stages.exploration.Exploration)."""

    figures: list[Figure]
    insights: list[str]
    n_rows: int
    n_columns: int
    sampled_rows: int


@dataclass(frozen=True)
class VerdictLine:
    """One business objective and whether the chosen model meets it."""

    name: str  # e.g. "MAPE < 10%" or "predict p99 < 100 ms"
    met: bool | None  # None = could not be measured
    text: str  # e.g. "met (holdout MAPE 8.4%, 95% CI 7.9-9.0%)"


@dataclass(frozen=True)
class StageSummary:
    """What one of the ten stages did in this run, and whether it came from the cache."""

    name: str  # "business", "data", ... (10 stages)
    title: str  # "1 Business understanding"
    cached: bool
    duration_s: float
    notes: list[str]  # plain sentences of what it did


@dataclass(frozen=True)
class QualityFinding:
    """One data-quality check that found something, with the columns it concerns."""

    severity: str  # "info" | "warn" | "error"
    check: str  # e.g. "missing values"
    columns: list[str]
    count: int
    detail: str
    example: str | None = None  # already masked by the privacy policy


@dataclass(frozen=True)
class LeaderboardRow:
    """One candidate model's cross-validated scores."""

    model: str
    scores: dict[str, tuple[float, float]]  # metric -> (cv mean, cv sd)
    train_score: float | None  # primary metric on training folds (bias-variance)
    fit_time_s: float
    chosen: bool
    predict_ms_per_row: float | None = None


@dataclass(frozen=True)
class HoldoutMetric:
    """A metric of the chosen model on the untouched holdout, with its bootstrap confidence interval."""

    name: str  # "mape"; percent metrics are fractions (0.084 means 8.4%), as scikit-learn returns them
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ClassRow:
    """One class of a classifier on the holdout: (value, CI low, CI high) for precision, recall and F1; a value
    undefined on the holdout is NaN, an interval that could not be drawn is None."""

    label: str
    support: int
    precision: tuple[float, float | None, float | None]
    recall: tuple[float, float | None, float | None]
    f1: tuple[float, float | None, float | None]


@dataclass(frozen=True)
class DiagnosticsSection:
    """How the chosen model errs on the holdout: curves, the decision threshold, the worst segments."""

    figures: list[Figure]
    threshold: str  # how the decision threshold was chosen; empty when there is none
    segments: list[str]  # one sentence each (cairn.stages.segments)
    notes: list[str]  # what could not be measured, and why


@dataclass(frozen=True)
class ReportContext:
    """The whole run, in the order a reader wants it: verdict first, details last."""

    project: str
    run_id: int
    created_at: str  # ISO timestamp
    objective: str  # business objective in words
    problem: str
    target: str
    shipped: bool  # every verdict line met
    verdict: list[VerdictLine]
    stages: list[StageSummary]
    quality: list[QualityFinding]
    exploration: Exploration | None  # from cairn.stages.exploration
    leaderboard: list[LeaderboardRow]
    primary_metric: str
    holdout: list[HoldoutMetric]
    feature_importance: list[tuple[str, float]]  # top features, largest first
    model_version: str | None  # e.g. "house-prices v1 (production)"
    manifest: dict[str, Any]  # shown as a collapsed key/value table
    model_figures: list[Figure] = field(default_factory=list)  # learning curves of the best models
    comparison: str = ""  # is the chosen model really better than the next? (cairn.stages.comparison)
    model_card: str = ""  # the model card, Markdown (cairn.stages.card)
    diagnostics: DiagnosticsSection | None = None  # ROC, precision-recall, calibration, confusion; residuals
    explanations: ExplanationsSection | None = None  # mean |SHAP|, summary and dependence plots (report.explanations)
    per_class: list[ClassRow] = field(default_factory=list)  # classification: each class on the holdout
    one_fold: bool = False  # the leaderboard scores come from one validation fold (training.validation)

"""The explanation figures: a beeswarm-style summary of each top input's contributions, and dependence plots.

Drawn from the points the evaluation stage kept (cairn.stages.shap_summary): nothing is loaded or explained here.
A summary row per input shows every sampled row's contribution as a dot, coloured by the input's value (low to
high) for numbers; a dependence plot shows contribution against value, so a threshold or a slope is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from cairn.plots import ACCENT, MUTED, TREND, Figure, png, tidy

DEPENDENCE_PLOTS = 4
LEVELS_SHOWN = 8


@dataclass(frozen=True)
class ExplanationRow:
    """One input: mean |SHAP| (how far it moves answers) beside permutation importance (how much the metric
    needs it); None where it was not measured."""

    name: str
    mean_abs_shap: float
    permutation: float | None


@dataclass(frozen=True)
class ExplanationsSection:
    scale: str  # what the contributions add up to
    rows: int  # holdout rows explained
    inputs: list[ExplanationRow]
    figures: list[Figure] = field(default_factory=list)
    note: str = ""


def explanations_section(summary: Any, permutation: list[tuple[str, float]]) -> ExplanationsSection | None:
    """The report's explanation section from the evaluation stage's summary (cairn.stages.shap_summary)."""
    if summary is None or not getattr(summary, "importance", None):
        return None
    permuted = dict(permutation)
    rows = [ExplanationRow(name, value, permuted.get(name)) for name, value in summary.importance]
    return ExplanationsSection(summary.scale, summary.rows, rows, explanation_figures(summary), summary.note)


def explanation_figures(summary: Any) -> list[Figure]:
    """The summary figure and the dependence plots of the top inputs; none without a summary."""
    effects = list(getattr(summary, "effects", None) or [])
    if not effects:
        return []
    return [_summary_figure(effects, scale=summary.scale, rows=summary.rows),
            _dependence_figure(effects[:DEPENDENCE_PLOTS], scale=summary.scale)]


def _summary_figure(effects: list[Any], *, scale: str, rows: int) -> Figure:
    fig = MplFigure(figsize=(7.5, 0.45 * len(effects) + 1.1))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="x")
    rng = np.random.default_rng(0)
    colour_map = _blend(MUTED, TREND)
    for position, effect in enumerate(effects):
        contributions = np.asarray(effect.contributions, dtype="float64")
        height = len(effects) - 1 - position
        jitter = rng.uniform(-0.28, 0.28, len(contributions))
        colours = colour_map(_ranks(effect.values)) if effect.kind == "number" else ACCENT
        ax.scatter(contributions, height + jitter, s=7, c=colours, linewidths=0, alpha=0.8)
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_yticks(range(len(effects)))
    ax.set_yticklabels([effect.name for effect in reversed(effects)], fontsize=8)
    ax.set_xlabel(f"contribution to {scale}", fontsize=8)
    fig.subplots_adjust(left=0.28, right=0.97, bottom=0.6 / (0.45 * len(effects) + 1.1) + 0.05, top=0.97)
    caption = (f"Each dot is one of {rows:,} holdout rows: how far that input moved its answer from the base "
               "value. Numbers are coloured from low (grey) to high (red) values; categories are blue. Inputs "
               "are ranked by mean absolute contribution.")
    return Figure("What moves each prediction (SHAP summary)", caption, png(fig))


def _dependence_figure(effects: list[Any], *, scale: str) -> Figure:
    fig = MplFigure(figsize=(3.3 * len(effects), 2.8))
    for index, effect in enumerate(effects):
        ax = fig.add_subplot(1, len(effects), index + 1)
        tidy(ax, grid="both")
        contributions = np.asarray(effect.contributions, dtype="float64")
        if effect.kind == "number":
            values = np.array([np.nan if v is None else float(v) for v in effect.values])
            ax.scatter(values, contributions, s=7, color=ACCENT, linewidths=0, alpha=0.7)
        else:
            levels = _common_levels(effect.values)
            shown = [i for i, v in enumerate(effect.values) if str(v) in levels]
            positions = [levels.index(str(effect.values[i])) for i in shown]
            jitter = np.random.default_rng(index).uniform(-0.25, 0.25, len(shown))
            ax.scatter(np.asarray(positions) + jitter, contributions[shown], s=7, color=ACCENT, linewidths=0,
                       alpha=0.7)
            ax.set_xticks(range(len(levels)))
            ax.set_xticklabels([level[:12] for level in levels], rotation=45, ha="right", fontsize=7)
        ax.axhline(0, color="#888888", linewidth=0.8)
        ax.set_title(effect.name, fontsize=9)
        if index == 0:
            ax.set_ylabel(f"contribution to {scale}", fontsize=8)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.3, top=0.88, wspace=0.35)
    caption = ("Contribution against the input's value for the top inputs: a step shows a threshold the model "
               "uses, a slope a steady effect, a vertical spread an interaction with other inputs.")
    return Figure("How the top inputs act (dependence plots)", caption, png(fig))


def _ranks(values: tuple[Any, ...]) -> np.ndarray:
    """Each value's rank in [0, 1] (missing ones at 0.5): colour by order, so outliers do not wash it out."""
    numbers = np.array([np.nan if v is None else float(v) for v in values])
    ranks = np.full(len(numbers), 0.5)
    present = ~np.isnan(numbers)
    if present.sum() > 1:
        order = numbers[present].argsort().argsort()
        ranks[present] = order / (present.sum() - 1)
    return ranks


def _common_levels(values: tuple[Any, ...]) -> list[str]:
    texts, counts = np.unique([str(v) for v in values], return_counts=True)
    return [str(text) for text in texts[np.argsort(-counts, kind="stable")][:LEVELS_SHOWN]]


def _blend(low: str, high: str) -> Any:
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("cairn_values", [low, high])

"""The charts, most telling first: the target, its strongest relations, correlations, then every column.

Each function decides what one figure shows and writes its caption from the numbers it drew, so the report's
pictures and words cannot disagree; how bars, boxes and histograms are drawn is left to ``drawing``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

from cairn.plots import (
    ACCENT,
    MISSING_COLOR,
    MUTED,
    TREND,
    Figure,
    bars,
    boxes,
    chunks,
    histogram,
    png,
    subplots,
    tidy,
)
from cairn.stages.exploration.insights import strong_pairs
from cairn.stages.exploration.view import TOP_LEVELS, View
from cairn.thresholds import ALMOST_CONSTANT_SHARE, SKEWED
from cairn.words import compact, level, number, percent, short

MAX_HEATMAP_COLUMNS = 30
N_RELATION_PLOTS = 4
MAX_SCATTER_POINTS = 5_000  # more points only overplot and slow the PNG down


def figures(view: View) -> Iterator[Figure]:
    yield _target_figure(view)
    if view.y_numeric is not None:
        scatter = _scatter_figure(view)
        if scatter:
            yield scatter
        by_level = _target_by_category_figure(view)
        if by_level:
            yield by_level
    else:
        boxes = _class_box_figure(view)
        if boxes:
            yield boxes
    heatmap = _heatmap_figure(view)
    if heatmap:
        yield heatmap
    yield from _numeric_grids(view)
    yield from _categorical_grids(view)


def _target_figure(view: View) -> Figure:
    """The target's distribution first: it decides the metric, the transform and how to split."""
    if view.y_numeric is not None:
        return _numeric_target_figure(view.target, view.y_numeric.dropna())
    return _class_target_figure(view.target, view.classes())


def _numeric_target_figure(target: str, y: pd.Series) -> Figure:
    """A histogram of the target, and of its log beside it when a right skew makes the log worth a look."""
    log_panel = len(y) > 1 and y.min() > 0 and y.skew() > SKEWED
    fig = MplFigure(figsize=(12, 3.4) if log_panel else (7, 3.4))
    axes = subplots(fig, 1, 2 if log_panel else 1, left=0.75, wgap=0.8)[0]
    histogram(axes[0], y.to_numpy(), counts_axis=True)
    axes[0].set_title(f"{target}", fontsize=10)
    axes[0].set_ylabel("rows", fontsize=10)
    if not len(y):
        return Figure(f"Target: {target}", f"{target} has no values to plot.", png(fig))
    caption = (
        f"{target} runs from {number(y.min())} to {number(y.max())} with median "
        f"{number(y.median())}; the skewness is {y.skew():.2f}"
    )
    if log_panel:
        logged = np.log10(y.to_numpy())
        histogram(axes[1], logged, counts_axis=True)
        axes[1].set_title(f"log10({target})", fontsize=10)
        caption += (
            f", and on a log scale (right) it drops to {pd.Series(logged).skew():.2f}, "
            "which is why modelling the log often helps"
        )
    return Figure(f"Target: {target}", caption + ".", png(fig))


def _class_target_figure(target: str, counts: pd.Series) -> Figure:
    """Rows per class (the 20 largest): imbalance is seen at a glance."""
    shown = counts.iloc[:20]
    fig = MplFigure(figsize=(7, 1.1 + 0.38 * max(len(shown), 2)))
    ax = subplots(fig, 1, 1, left=1.5)[0, 0]
    bars(
        ax,
        [short(str(c), 22) for c in shown.index],
        shown.to_numpy(),
        total=int(counts.sum()),
        annotate=True,
        min_slots=1,
    )
    ax.set_title(f"{target}: rows per class", fontsize=10)
    if len(counts):
        shares = counts / counts.sum()
        caption = (
            f"The largest class {level(counts.index[0])} holds {percent(shares.iloc[0])} of rows and the "
            f"smallest {level(counts.index[-1])} {percent(shares.iloc[-1])}"
            + (f"; only the 20 largest of {len(counts)} classes are drawn." if len(counts) > 20 else ".")
        )
    else:
        caption = f"{target} has no values to plot."
    return Figure(f"Target: {target}", caption, png(fig))


def _scatter_figure(view: View) -> Figure | None:
    assert view.y_numeric is not None
    features = list(view.relevance.index[:N_RELATION_PLOTS])
    if not features:
        return None
    rng = np.random.default_rng(view.seed)
    fig = MplFigure(figsize=(min(12.0, 2.8 * len(features) + 0.9), 3.3))
    axes = subplots(fig, 1, len(features), left=0.85, wgap=0.3, sharey=True)[0]
    shown = 0
    for ax, name in zip(axes, features, strict=True):
        both = pd.concat([view.numbers[name], view.y_numeric], axis=1).dropna().to_numpy()
        if len(both) > MAX_SCATTER_POINTS:
            both = both[rng.choice(len(both), MAX_SCATTER_POINTS, replace=False)]
        shown = max(shown, len(both))
        x, y = both[:, 0], both[:, 1]
        ax.scatter(x, y, s=5, alpha=0.35, color=ACCENT, linewidths=0)
        if np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            ends = np.array([x.min(), x.max()])
            ax.plot(ends, slope * ends + intercept, color=TREND, linewidth=1.5)
        ax.set_title(f"{short(name, 26)}  (r = {view.relevance[name]:.2f})", fontsize=10)
        tidy(ax, grid="both")
    axes[0].set_ylabel(view.target, fontsize=10)
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    caption = (
        f"Each point is a row ({shown:,} shown) and the red line the least-squares fit; the tighter the "
        f"cloud around the line, the more the feature tells about {view.target}."
    )
    return Figure(f"{view.target} against its most correlated features", caption, png(fig))


def _target_by_category_figure(view: View) -> Figure | None:
    """Box plots of the target per level of the most telling categorical columns (regression only)."""
    assert view.y_numeric is not None
    etas = view.categorical_relevance
    columns = list(etas.index[:N_RELATION_PLOTS])
    if not columns:
        return None
    nrows = math.ceil(len(columns) / 2)
    fig = MplFigure(figsize=(12, 3.6 * nrows))
    axes = subplots(fig, nrows, 2, left=1.45, wgap=1.65, hgap=0.75, bottom=0.55).ravel()
    y = view.y_numeric
    for ax, name in zip(axes, columns, strict=False):
        levels = view.levels(name)
        values = y.to_numpy()
        groups = {
            label: values[(levels.codes == index) & ~np.isnan(values)] for index, label in enumerate(levels.labels)
        }
        groups = {label: group for label, group in groups.items() if len(group)}
        order = sorted(groups, key=lambda label: -float(np.median(groups[label])))  # highest on top
        boxes(ax, [groups[label] for label in order], [short(label, 22) for label in order])
        ax.set_title(f"{short(name, 30)}  (η = {etas[name]:.2f})", fontsize=10)
        ax.set_xlabel(view.target, fontsize=8)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    caption = (
        f"Levels are ordered by median {view.target}; the further apart the boxes, the more the column "
        f"explains, and {columns[0]} explains the most."
    )
    return Figure(f"{view.target} by its most telling categorical columns", caption, png(fig))


def _class_box_figure(view: View) -> Figure | None:
    features = list(view.relevance.index[:N_RELATION_PLOTS])
    if not features:
        return None
    classes = [c for c in view.classes().index[:TOP_LEVELS]]
    labels = view.sample[view.target].astype("object")
    height = 0.9 + 0.3 * max(len(classes), 2)
    nrows = math.ceil(len(features) / 2)
    fig = MplFigure(figsize=(12, height * nrows + 0.3))
    axes = subplots(fig, nrows, 2, left=1.45, wgap=1.65, hgap=0.6).ravel()
    for ax, name in zip(axes, features, strict=False):
        column = view.numbers[name]
        data = [column[(labels == c).to_numpy()].dropna().to_numpy() for c in classes]
        kept = [(str(c), values) for c, values in zip(classes, data, strict=True) if len(values)]
        boxes(ax, [values for _, values in kept], [short(c, 22) for c, _ in kept])
        ax.set_title(f"{short(name, 30)}  (η = {view.relevance[name]:.2f})", fontsize=10)
    for ax in axes[len(features) :]:
        ax.set_visible(False)
    caption = (
        f"Boxes at different positions mean the feature separates the classes of {view.target}; "
        f"{features[0]} separates them best."
    )
    return Figure(f"Numeric features by class of {view.target}", caption, png(fig))


def _heatmap_figure(view: View) -> Figure | None:
    """Pearson r between the target and the numeric features, and among the features: redundancy at a glance."""
    columns, chosen = _heatmap_columns(view)
    # Reuse the correlations the insights computed: pairwise-complete r on 200,000 rows is not free.
    features = view.correlation.loc[columns, columns].to_numpy() if columns else np.empty((0, 0))
    matrix, matrix_columns = _heatmap_matrix(view, columns, features)
    if len(matrix_columns) < 2:
        return None
    fig = _heatmap_drawing(matrix, matrix_columns)
    strongest = _strongest_pair_clause(view, columns, features)
    scope = f" (showing {chosen})" if chosen else ""
    caption = (
        f"Red cells mark columns that rise together and blue cells columns that move in opposite "
        f"directions{scope}{strongest}."
    )
    return Figure("Correlation between numeric columns", caption, png(fig))


def _heatmap_columns(view: View) -> tuple[list[str], str]:
    """The features to show and, when there are too many to read, how they were chosen (for the caption)."""
    columns = list(view.correlated)
    if len(columns) <= MAX_HEATMAP_COLUMNS:
        return columns, ""
    if len(view.relevance):
        most_related = view.relevance.index[:MAX_HEATMAP_COLUMNS]
        return list(most_related), f"the {MAX_HEATMAP_COLUMNS} most related to {view.target}"
    by_variance = view.numbers[columns].var().sort_values(ascending=False).index[:MAX_HEATMAP_COLUMNS]
    return list(by_variance), f"the {MAX_HEATMAP_COLUMNS} with the largest variance"


def _heatmap_matrix(view: View, columns: list[str], features: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The feature correlations, bordered by each feature's r with a numeric target so both read in one picture."""
    if view.y_numeric is not None and len(view.relevance):
        with_target = view.relevance.reindex(columns).to_numpy()
        matrix = np.block([[np.ones((1, 1)), with_target[None, :]], [with_target[:, None], features]])
        return matrix, [view.target, *columns]
    return features, columns


def _heatmap_drawing(values: np.ndarray, matrix_columns: list[str]) -> MplFigure:
    """The matrix as coloured cells with a colour bar, sized so that 30 columns still fit the report's width."""
    n = len(matrix_columns)
    cell = min(0.3, 8.5 / n)  # inches per cell: 30 columns still fit the report's width
    labels_in, matrix_in = 1.6, cell * n
    width, height = labels_in + matrix_in + 1.3, labels_in + matrix_in + 0.25
    fig = MplFigure(figsize=(width, height))
    ax = fig.add_axes((labels_in / width, labels_in / height, matrix_in / width, matrix_in / height))
    color_axes = fig.add_axes(
        ((labels_in + matrix_in + 0.25) / width, labels_in / height, 0.18 / width, matrix_in / height)
    )
    image = ax.imshow(np.nan_to_num(values), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    labels = [short(str(c), 24) for c in matrix_columns]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n <= 15:
        _write_cell_values(ax, values)
    colorbar = fig.colorbar(image, cax=color_axes)
    colorbar.set_label("Pearson r", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    return fig


def _write_cell_values(ax: Axes, values: np.ndarray) -> None:
    """Print r in each cell: with 15 columns or fewer the numbers fit and are quicker to read than colours."""
    n = len(values)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{values[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(values[i, j]) > 0.6 else "#333333",
            )


def _strongest_pair_clause(view: View, columns: list[str], features: np.ndarray) -> str:
    """The caption's pointer to the strongest pair: a strong one if any, else the largest |r| off the diagonal."""
    pairs = strong_pairs(view.correlation.loc[columns, columns]) if columns else []
    off_diagonal = np.abs(np.where(np.eye(len(columns), dtype=bool), np.nan, features))
    if not pairs and len(columns) >= 2 and not np.isnan(off_diagonal).all():
        i, j = np.unravel_index(np.nanargmax(off_diagonal), features.shape)
        pairs = [(columns[i], columns[j], float(features[i, j]))]
    return f"; the strongest pair is {pairs[0][0]} and {pairs[0][1]} (r = {pairs[0][2]:.2f})" if pairs else ""


def _grid_title(kind: str, start: int, chunk: Sequence[str], charted: int, in_table: int) -> str:
    """'Numeric columns (1-12 of 33)', or '(1-12 of 60 charted of 4,000)' when the grids chart a selection."""
    of = f"{charted}" if charted == in_table else f"{charted} charted of {in_table:,}"
    return f"{kind} columns ({start + 1}-{start + len(chunk)} of {of})"


def _numeric_grids(view: View) -> Iterator[Figure]:
    names = view.charted_numeric
    for start, chunk in chunks(names):
        ncols = 4
        nrows = math.ceil(len(chunk) / ncols)
        fig = MplFigure(figsize=(12, 2.2 * nrows + 0.2))
        axes = subplots(fig, nrows, ncols, left=0.5, wgap=0.6, hgap=0.6, bottom=0.35).ravel()
        for ax, name in zip(axes, chunk, strict=False):
            values = view.numbers[name].to_numpy()
            histogram(ax, values[~np.isnan(values)])
            ax.set_title(short(str(name), 30), fontsize=10)
            share = view.missing_share[name]
            if 0 < share < 1:
                ax.text(
                    0.98,
                    0.95,
                    f"{percent(share)} missing",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=7,
                    color="#9a5b00",
                )
        for ax in axes[len(chunk) :]:
            ax.set_visible(False)
        title = _grid_title("Numeric", start, chunk, len(names), len(view.kinds.numeric))
        yield Figure(title, _numeric_caption(view, chunk), png(fig))


def _numeric_caption(view: View, chunk: Sequence[str]) -> str:
    usable = [c for c in chunk if c in view.usable]
    if not usable:
        return "One histogram per numeric column; none of these columns has more than one distinct value."
    tops = {c: view.numbers[c].value_counts(normalize=True).iloc[0] for c in usable}
    spiky = max(tops, key=lambda c: tops[c])
    if tops[spiky] >= ALMOST_CONSTANT_SHARE:
        mode = view.numbers[spiky].mode().iloc[0]
        return (
            f"One histogram per numeric column; a single tall bar marks an almost constant column, "
            f"such as {spiky} where {view.numbers[spiky].eq(mode).mean() * 100:.1f}% of rows are "
            f"{number(mode)}."
        )
    skews = view.numbers[usable].skew().dropna()  # skewness needs three values
    if skews.empty:
        return "One histogram per numeric column."
    widest = skews.abs().idxmax()
    return f"One histogram per numeric column; the most lopsided here is {widest} (skewness {skews[widest]:.2f})."


def _categorical_grids(view: View) -> Iterator[Figure]:
    names = view.charted_categorical
    for start, chunk in chunks(names):
        ncols = 3
        nrows = math.ceil(len(chunk) / ncols)
        fig = MplFigure(figsize=(12, 2.6 * nrows + 0.2))
        axes = subplots(fig, nrows, ncols, left=1.35, wgap=1.6, hgap=0.55, bottom=0.35).ravel()
        lopsided: tuple[str, str, float] | None = None
        for ax, name in zip(axes, chunk, strict=False):
            # Real levels by size, then the pooled and missing bars last, where a reader expects leftovers.
            levels = view.levels(name)
            colors = [{"level": ACCENT, "other": MUTED, "missing": MISSING_COLOR}[kind] for kind in levels.kinds]
            bars(
                ax,
                [short(label, 17) for label in levels.labels],
                levels.counts,
                total=len(levels.codes),
                colors=colors,
            )
            n_levels = levels.n_levels
            ax.set_title(f"{short(str(name), 26)}  ({n_levels} level{'s' if n_levels != 1 else ''})", fontsize=10)
            if levels.kinds and levels.kinds[0] == "level":
                share = levels.counts[0] / len(levels.codes)
                if lopsided is None or share > lopsided[2]:
                    lopsided = (str(name), levels.labels[0], share)
        for ax in axes[len(chunk) :]:
            ax.set_visible(False)
        caption = f"Bars show each column's {TOP_LEVELS} most frequent levels with the rest pooled as 'other'" + (
            f"; the most lopsided is {lopsided[0]}, where {lopsided[2] * 100:.1f}% of rows are '{lopsided[1]}'."
            if lopsided
            else "."
        )
        title = _grid_title("Categorical", start, chunk, len(names), len(view.kinds.categorical))
        yield Figure(title, caption, png(fig))

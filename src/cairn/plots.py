"""How charts are drawn: fast matplotlib primitives, fixed layouts and PNG encoding, with no chart logic.

Matplotlib is used through its object API only (``matplotlib.figure.Figure`` + ``FigureCanvasAgg``): no pyplot,
so nothing registers figures globally, picks a GUI backend or leaks memory when a server explores many tables.
Speed comes from fixed layouts in inches (constrained layout tripled the time), few ticks (each costs ~3 ms to
draw), and bars and boxes drawn as one collection per panel.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from cairn.words import compact, percent

PANELS_PER_FIGURE = 12  # small multiples per grid figure
DPI = 80

ACCENT = "#2f5d8a"
MUTED = "#a3acb9"
MISSING_COLOR = "#e0a040"
TREND = "#c0392b"
_GRID = "#e6e9ee"


@dataclass(frozen=True)
class Figure:
    """One chart of the exploration, ready to inline in HTML."""

    title: str
    caption: str  # one plain sentence saying what to see
    png_base64: str  # PNG bytes, base64 (no data: prefix)


def histogram(ax: Axes, values: np.ndarray, *, counts_axis: bool = False) -> None:
    """Discrete integers get one bar per value (bins would split them oddly); the rest get a histogram."""
    tidy(ax)
    if not len(values):
        ax.text(0.5, 0.5, "all missing", transform=ax.transAxes, ha="center", va="center", color="#888888")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    uniques, counts = np.unique(values, return_counts=True)
    if len(uniques) <= 25 and np.all(np.mod(uniques, 1) == 0):
        width = 0.8 * (float(np.min(np.diff(uniques))) if len(uniques) > 1 else 1.0)
        _bar_collection(ax, uniques, counts, thickness=width, colors=[ACCENT], horizontal=False)
        ax.set_xlim(uniques[0] - width, uniques[-1] + width)
        ax.set_ylim(0, counts.max() * 1.05)
        if len(uniques) <= 5:  # few values: label each one (0/1/2 bathrooms), not a rounded range
            ax.xaxis.set_major_locator(FixedLocator(uniques))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4 if counts_axis else 3, integer=True))
    else:
        edges = np.histogram_bin_edges(values, bins="auto")
        if len(edges) > 51:
            edges = np.histogram_bin_edges(values, bins=50)
        heights, edges = np.histogram(values, bins=edges)
        ax.stairs(heights, edges, fill=True, color=ACCENT)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5 if counts_axis else 3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    if not counts_axis:  # in a grid the shape is the message; y ticks would double the drawing time
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))


def bars(
    ax: Axes,
    labels: list[str],
    counts: np.ndarray,
    *,
    total: int,
    colors: list[str] | None = None,
    annotate: bool = False,
    min_slots: int = 6,
) -> None:
    """Horizontal bars of the share of rows, largest on top.

    Shares, not counts, on the axis: they compare across columns and tables. Per-bar labels are opt-in because
    hundreds of small texts are most of the drawing time in a grid.
    """
    tidy(ax, grid="x")
    positions = np.arange(len(labels))
    shares = counts / total if total else np.zeros(len(counts))
    _bar_collection(ax, positions, shares, thickness=0.7, colors=colors or [ACCENT], horizontal=True)
    # Plain texts instead of y ticks: a tick is five artists, and the grids draw hundreds of labels.
    ax.set_yticks([])
    ax.set_ylim(max(len(labels), min_slots) - 0.5, -0.5)  # in a grid, two levels must not make slabs
    for position, label in zip(positions, labels, strict=True):
        ax.text(
            -0.02,
            position,
            label,
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
            color="#444444",
        )
    peak = float(shares.max()) if len(shares) and shares.max() > 0 else 1.0
    ax.set_xlim(0, peak * (1.2 if annotate else 1.05))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=2))  # each tick costs ~3 ms; the bars carry the message
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:.0f}%"))
    if annotate:
        for position, share in zip(positions, shares, strict=True):
            ax.text(share + peak * 0.01, position, percent(share), va="center", fontsize=8, color="#555555")


def _bar_collection(
    ax: Axes, positions: np.ndarray, lengths: np.ndarray, *, thickness: float, colors: list[str], horizontal: bool
) -> None:
    """All bars as one PolyCollection: one artist to draw instead of one Rectangle per bar."""
    half = thickness / 2
    bars = list(zip(positions, lengths, strict=True))
    if horizontal:
        verts = [[(0, p - half), (0, p + half), (n, p + half), (n, p - half)] for p, n in bars]
    else:
        verts = [[(p - half, 0), (p + half, 0), (p + half, n), (p - half, n)] for p, n in bars]
    ax.add_collection(PolyCollection(verts, facecolors=colors, edgecolors="none"), autolim=False)


def boxes(ax: Axes, data: list[np.ndarray], labels: list[str]) -> None:
    """Horizontal box plots, first group on top: quartile box, median, 1.5 IQR whiskers, outliers as dots.

    Drawn from collections rather than ``Axes.boxplot``, which reads every rcParam and thereby imports pyplot.
    """
    tidy(ax, grid="x")
    ax.set_yticks([])
    if not data:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center", color="#888888")
        return
    boxes, medians, whiskers, outliers = [], [], [], []
    for row, values in enumerate(data):
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        reach = 1.5 * (q3 - q1)
        inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
        low, high = (inside.min(), inside.max()) if len(inside) else (q1, q3)
        boxes.append([(q1, row - 0.3), (q1, row + 0.3), (q3, row + 0.3), (q3, row - 0.3)])
        medians.append([(median, row - 0.3), (median, row + 0.3)])
        whiskers += [
            [(low, row), (q1, row)],
            [(q3, row), (high, row)],
            [(low, row - 0.15), (low, row + 0.15)],
            [(high, row - 0.15), (high, row + 0.15)],
        ]
        outside = values[(values < low) | (values > high)]
        outliers.append(np.column_stack([outside, np.full(len(outside), row)]))
    ax.add_collection(LineCollection(whiskers, colors=ACCENT, linewidths=1))
    ax.add_collection(PolyCollection(boxes, facecolors="#d6e2ef", edgecolors=ACCENT, linewidths=1))
    ax.add_collection(LineCollection(medians, colors=TREND, linewidths=2))
    dots = np.concatenate(outliers)
    if len(dots):
        ax.scatter(dots[:, 0], dots[:, 1], s=3, color=MUTED, alpha=0.5, linewidths=0)
    ax.autoscale_view()
    ax.set_ylim(len(data) - 0.5, -0.5)
    for row, label in enumerate(labels):
        ax.text(
            -0.02, row, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8, color="#444444"
        )
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))


def subplots(
    fig: MplFigure,
    nrows: int,
    ncols: int,
    *,
    left: float,
    right: float = 0.25,
    top: float = 0.4,
    bottom: float = 0.45,
    wgap: float = 0.5,
    hgap: float = 0.5,
    sharey: bool = False,
) -> np.ndarray:
    """A grid with margins in inches: fixed margins cost nothing, while constrained layout tripled the time."""
    width, height = fig.get_size_inches()
    axis_width = (width - left - right - wgap * (ncols - 1)) / ncols
    axis_height = (height - top - bottom - hgap * (nrows - 1)) / nrows
    spacing = {
        "left": left / width,
        "right": 1 - right / width,
        "bottom": bottom / height,
        "top": 1 - top / height,
        "wspace": wgap / axis_width,
        "hspace": hgap / axis_height,
    }
    return fig.subplots(nrows, ncols, squeeze=False, sharey=sharey, gridspec_kw=spacing)


def tidy(ax: Axes, *, grid: str = "y") -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#b8bec8")
    ax.tick_params(labelsize=8, colors="#444444")
    ax.grid(axis=grid, color=_GRID, linewidth=0.7)
    ax.set_axisbelow(True)


def png(fig: MplFigure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def chunks(names: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(names), PANELS_PER_FIGURE):
        yield start, list(names[start : start + PANELS_PER_FIGURE])

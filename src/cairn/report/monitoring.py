"""The monitoring report: one self-contained HTML file of what `cairn monitor` found, in plain words first.

Aggregates only: the latest check's drift per feature, drift per feature over the stored checks, the success metric
per performance window (realised with its interval, the estimate beside it, the threshold drawn) and the retrain
decisions of the audit log. It never holds a row, so its size follows the number of checks and windows, never the
rows monitored. cairn.project.monitoring_report builds the ``MonitoringContext`` from the store; nothing here reads
the store or the model.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from cairn.metrics.catalogue import is_percent, label, lower_is_better
from cairn.plots import ACCENT, MUTED, TREND, Figure, png, tidy
from cairn.report.render import _environment, format_metric, format_number

TOP_FEATURES = 6  # lines in the drift-over-checks chart: the features with the highest PSI at the latest check
_LINE_COLOURS = ("#2f5d8a", "#c07a1a", "#6b4c9a", "#1e7e34", "#b42318", "#3b9ab2")


@dataclass(frozen=True)
class DriftLine:
    """One feature (or model output) at the latest check."""

    feature: str
    kind: str
    psi: float | None  # None: not judged (too rarely sent)
    test: str
    p_value: float | None
    drifted: bool
    detail: str


@dataclass(frozen=True)
class DriftCheck:
    """One stored check: when, on how many rows, and each judged feature's PSI."""

    checked_at: datetime
    rows: int
    share_drifted: float
    domain_auc: float | None
    prediction_psi: float | None
    psi: dict[str, float] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True)
class WindowPoint:
    """A success metric in one performance window, realised on ground truth or estimated without it."""

    start: datetime
    end: datetime
    metric: str
    kind: str  # realised | estimated
    value: float | None
    low: float | None
    high: float | None
    threshold: float | None
    met: bool | None
    rows: int


@dataclass(frozen=True)
class RetrainDecision:
    at: datetime
    actor: str
    version: int | None
    promoted: bool | None
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringContext:
    """What the report shows, as plain data."""

    project: str
    model: str
    version: int
    created_at: datetime
    status: str  # healthy | watch | retrain | missed | no verdict
    advice: str
    todo: list[str]
    rows: int  # of the latest check
    first_at: datetime | None
    last_at: datetime | None
    psi_threshold: float
    drift: list[DriftLine]
    notes: list[str]  # prediction drift, new levels, missing rates, the domain classifier: one sentence each
    checks: list[DriftCheck]  # oldest first, the latest included
    windows: list[WindowPoint]  # oldest first
    decisions: list[RetrainDecision]  # newest first
    rules: list[str] = field(default_factory=list)  # the retrain rules that fired, in words


HEADLINES = {
    "healthy": "Healthy: nothing to do.",
    "watch": "Something moved, but no retrain rule fired: watch it.",
    "retrain": "Retraining is advised.",
    "missed": "The objective is missed in the latest window.",
    "no verdict": "No verdict: too little was sent to judge drift.",
}


def render_monitoring_report(context: MonitoringContext) -> str:
    template = _environment().get_template("monitoring.html")
    return template.render(c=context, v=_view(context))


def write_monitoring_report(context: MonitoringContext, path: Path) -> Path:
    """Written atomically, as the run report is (temp file + rename): a reader never sees half a file."""
    path = Path(path)
    html = render_monitoring_report(context)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False) as handle:
            temporary = Path(handle.name)
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)  # a report is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    return path


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d") + ("" if (moment.hour, moment.minute) == (0, 0) else moment.strftime(" %H:%M"))


def _view(c: MonitoringContext) -> dict[str, Any]:
    metrics = list(dict.fromkeys(w.metric for w in c.windows))
    figures = [f for f in (drift_over_checks_figure(c.checks, threshold=c.psi_threshold),
                           *(metric_per_window_figure(c.windows, metric=m) for m in metrics)) if f is not None]
    window_rows = []
    for start in dict.fromkeys(w.start for w in c.windows):
        for metric in metrics:
            realised = next((w for w in c.windows if w.start == start and w.metric == metric
                             and w.kind == "realised"), None)
            estimated = next((w for w in c.windows if w.start == start and w.metric == metric
                              and w.kind == "estimated"), None)
            if realised is None and estimated is None:
                continue
            chosen = realised or estimated
            assert chosen is not None
            window_rows.append({
                "start": _day(start), "end": _day(chosen.end), "metric": label(metric),
                "realised": format_metric(metric, realised.value) if realised else "–",
                "interval": (f"{format_metric(metric, realised.low)} – {format_metric(metric, realised.high)}"
                             if realised and realised.low is not None and realised.high is not None else "–"),
                "labelled": f"{realised.rows:,}" if realised else "0",
                "estimate": format_metric(metric, estimated.value) if estimated else "–",
                "threshold": ("–" if chosen.threshold is None else
                              ("< " if lower_is_better(metric) else "> ") + format_metric(metric, chosen.threshold)),
                "met": chosen.met, "estimated_only": realised is None})
    span = (f"requests from {_when(c.first_at)} to {_when(c.last_at)}" if c.first_at and c.last_at else None)
    return {
        "headline": HEADLINES.get(c.status, c.status),
        "created": _when(c.created_at),
        "span": span,
        "figures": figures,
        "drift": [{"feature": d.feature, "kind": d.kind, "psi": "–" if d.psi is None else f"{d.psi:.3f}",
                   "test": d.test, "p_value": "–" if d.p_value is None else f"{d.p_value:.3g}",
                   "drifted": d.drifted, "judged": d.psi is not None, "detail": d.detail} for d in c.drift],
        "drifted_count": sum(1 for d in c.drift if d.drifted),
        "judged_count": sum(1 for d in c.drift if d.psi is not None),
        "windows": window_rows,
        "checks": [{"at": _when(k.checked_at), "rows": f"{k.rows:,}", "share": f"{k.share_drifted:.0%}",
                    "auc": "–" if k.domain_auc is None else f"{k.domain_auc:.3f}",
                    "prediction_psi": "–" if k.prediction_psi is None else f"{k.prediction_psi:.3f}"}
                   for k in reversed(c.checks)],
        "decisions": [{"at": _when(d.at), "actor": d.actor, "version": "–" if d.version is None else f"v{d.version}",
                       "promoted": d.promoted, "reason": d.reason, "figures": _figures_text(d.figures)}
                      for d in c.decisions],
    }


def _figures_text(figures: dict[str, Any]) -> str:
    """The figures of a decision in one line: numbers at a readable precision, nested values left out."""
    parts = []
    for key, value in figures.items():
        if isinstance(value, bool) or value is None:
            parts.append(f"{key} {value}")
        elif isinstance(value, int | float):
            parts.append(f"{key} {format_number(float(value)) if isinstance(value, float) else f'{value:,}'}")
        elif isinstance(value, str):
            parts.append(f"{key} {value[:60]}")
    return "; ".join(parts)


# figures ------------------------------------------------------------------------------------------------------
def drift_over_checks_figure(checks: list[DriftCheck], *, threshold: float) -> Figure | None:
    """A line per feature over the checks, for the features with the highest PSI at the latest check; the PSI
    threshold dashed. One check draws points, not lines."""
    if not checks or not checks[-1].psi:
        return None
    latest = checks[-1].psi
    top = sorted((name for name in latest if math.isfinite(latest[name])), key=lambda n: -latest[n])[:TOP_FEATURES]
    if not top:
        return None
    fig = MplFigure(figsize=(9.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="y")
    xs = list(range(len(checks)))
    for index, name in enumerate(top):
        points = [(x, check.psi[name]) for x, check in zip(xs, checks, strict=True)
                  if name in check.psi and math.isfinite(check.psi[name])]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=4, linewidth=1.6,
                color=_LINE_COLOURS[index % len(_LINE_COLOURS)], label=name)
    ax.axhline(threshold, color=TREND, linestyle="--", linewidth=1.2)
    ax.text(xs[-1], threshold, f" PSI threshold {threshold:g}", color=TREND, fontsize=8, va="bottom", ha="right")
    ax.set_xticks(xs if len(xs) <= 8 else xs[:: max(1, len(xs) // 8)])
    days = {check.checked_at.date() for check in checks}
    stamp = "%Y-%m-%d" if len(days) == len(checks) else "%m-%d %H:%M"  # checks within a day: their times
    ax.set_xticklabels([checks[x].checked_at.strftime(stamp) for x in ax.get_xticks().astype(int)], fontsize=8)
    ax.set_xlim(-0.3, len(xs) - 0.7 if len(xs) > 1 else 0.3)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("PSI", fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=0.07, right=0.8, bottom=0.14, top=0.95)
    above = [name for name in top if latest[name] >= threshold]
    caption = (f"PSI of the {len(top)} features that moved most at the latest check, over the last {len(checks)} "
               f"check{'s' if len(checks) != 1 else ''}; the dashed line is the drift threshold. "
               + (f"Above it now: {', '.join(above)}." if above else "None is above it now."))
    return Figure("Drift per feature over checks", caption, png(fig))


def metric_per_window_figure(windows: list[WindowPoint], *, metric: str) -> Figure | None:
    """The realised metric per window with its interval, the estimate beside it (dotted), the threshold dashed."""
    mine = [w for w in windows if w.metric == metric and w.value is not None and math.isfinite(w.value)]
    if not mine:
        return None
    scale = 100.0 if is_percent(metric) else 1.0
    starts = list(dict.fromkeys(w.start for w in windows if w.metric == metric))
    position = {start: i for i, start in enumerate(starts)}
    realised = [w for w in mine if w.kind == "realised"]
    estimated = [w for w in mine if w.kind == "estimated"]
    fig = MplFigure(figsize=(9.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="y")
    if realised:
        xs = [position[w.start] for w in realised]
        ys = [(w.value or 0.0) * scale for w in realised]
        # a bootstrap interval need not hold its point estimate: never a negative bar
        low = [max(0.0, y - (w.low * scale if w.low is not None else y)) for y, w in zip(ys, realised, strict=True)]
        high = [max(0.0, (w.high * scale if w.high is not None else y) - y) for y, w in zip(ys, realised, strict=True)]
        ax.errorbar(xs, ys, yerr=[low, high], color=ACCENT, marker="o", markersize=4, linewidth=1.6, capsize=3,
                    label="realised (95% interval)")
    if estimated:
        ax.plot([position[w.start] for w in estimated], [(w.value or 0.0) * scale for w in estimated],
                color=MUTED, linestyle=":", marker="s", markersize=3, linewidth=1.6, label="estimate")
    threshold = next((w.threshold for w in mine if w.threshold is not None), None)
    if threshold is not None:
        ax.axhline(threshold * scale, color=TREND, linestyle="--", linewidth=1.2, label="business threshold")
    ticks = list(range(len(starts)))
    shown_ticks = ticks if len(ticks) <= 10 else ticks[:: max(1, len(ticks) // 10)]
    ax.set_xticks(shown_ticks)
    ax.set_xticklabels([_day(starts[t]) for t in shown_ticks], fontsize=8)
    ax.set_xlim(-0.5, len(starts) - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}" + ("%" if scale == 100.0 else "")))
    ax.set_ylabel(label(metric), fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=0.07, right=0.78, bottom=0.14, top=0.95)
    missed = [w for w in realised if w.met is False]
    caption = (f"{label(metric)} per window on the rows whose ground truth came back, with its 95% interval; the "
               "dotted line is the estimate made without ground truth; the dashed line is the business threshold. "
               + (f"Missed in {len(missed)} of {len(realised)} windows with ground truth." if realised
                  else "No ground truth came back yet: only the estimate is drawn."))
    return Figure(f"{label(metric)} per window", caption, png(fig))

"""Render a run's ``ReportContext`` as one self-contained HTML file.

Self-contained because the report is mailed, archived and opened on machines without network access: CSS is
inline, figures are data: URIs, and nothing (fonts, scripts, stylesheets) is fetched. Formatting decisions
(percent metrics, digits, durations) live here in Python, so the template only lays values out and tests can
check the numbers without a browser.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from cairn.metrics.catalogue import is_percent, label, lower_is_better
from cairn.report.context import ClassRow, LeaderboardRow, QualityFinding, ReportContext

logger = logging.getLogger(__name__)

_SEVERITY_ORDER = {"error": 0, "warn": 1, "info": 2}
_MAX_COLUMNS_LISTED = 6


def render_report(context: ReportContext) -> str:
    """The report as one HTML document: verdict first, then the evidence, then the details."""
    template = _environment().get_template("report.html")
    html = template.render(c=context, v=_view(context))
    logger.debug("Rendered report for %s run %s (%d characters)", context.project, context.run_id, len(html))
    return html


def write_report(context: ReportContext, path: Path) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a report, even if rendering fails."""
    path = Path(path)
    html = render_report(context)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)  # mkstemp makes it owner-only; a report is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    logger.info("Wrote report to %s", path)
    return path


@lru_cache(maxsize=1)
def markdown_html(text: str) -> markupsafe.Markup:
    """Markdown (the model card) as HTML; raw HTML in it is escaped, never passed through."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return markupsafe.Markup(rendered)  # nosec B704: html is off, so markdown-it escapes every tag in the text


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cairn.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(number=format_number, seconds=format_duration, metric_label=metric_label)
    environment.filters["markdown"] = markdown_html
    return environment


# --------------------------------------------------------------------------------------------------------------
# Formatting, public so the lead's CLI can print numbers the way the report shows them.


def metric_label(name: str) -> str:
    """'mape' -> 'MAPE', 'r2' -> 'R²' (the metric catalogue's labels)."""
    return label(name)


def _decimals(value: float) -> int:
    magnitude = abs(value)
    if magnitude >= 1000:
        return 0
    if magnitude >= 100:
        return 1
    if magnitude >= 1:
        return 2
    return 3


def format_number(value: float | None, decimals: int | None = None) -> str:
    """Digits by magnitude: 24,512 / 123.4 / 8.41 / 0.912; tiny values in scientific notation."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if decimals is None:
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        decimals = _decimals(value)
    return f"{value:,.{decimals}f}"


def format_metric(name: str, value: float | None, *, like: float | None = None) -> str:
    """A metric value in its reader's unit; ``like`` borrows the precision of another value (mean for sd)."""
    if value is None or math.isnan(value):
        return "–"
    percent = is_percent(name)
    scale = 100.0 if percent else 1.0
    reference = (like if like is not None else value) * scale
    if percent:
        decimals: int | None = 1 if abs(reference) >= 1 else 2
    else:
        decimals = None if reference != 0 and abs(reference) < 0.001 else _decimals(reference)
    return format_number(value * scale, decimals) + ("%" if percent else "")


def format_duration(seconds: float) -> str:
    if seconds < 0.01:
        return "<0.01 s"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_timestamp(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = moment.strftime(" %Z") if moment.tzinfo else ""
    return moment.strftime("%Y-%m-%d %H:%M") + zone


# --------------------------------------------------------------------------------------------------------------
# The view: context values turned into exactly what the template prints.


@dataclass(frozen=True)
class _HoldoutCard:
    label: str
    value: str
    interval: str | None
    better: str


@dataclass(frozen=True)
class _ClassLine:
    label: str
    support: str
    cells: list[tuple[str, str]]  # (value, "low – high" or "") for precision, recall, F1


@dataclass(frozen=True)
class _Cell:
    text: str
    best: bool


@dataclass(frozen=True)
class _LeaderRow:
    model: str
    chosen: bool
    cells: list[_Cell]
    train: str
    fit_time: str
    predict: str


@dataclass(frozen=True)
class _Bar:
    name: str
    value: str
    width_pct: float
    negative: bool


@dataclass(frozen=True)
class _Finding:
    severity: str
    check: str
    columns: str
    count: str
    detail: str


def _view(context: ReportContext) -> dict[str, Any]:
    verdict_total = len(context.verdict)
    verdict_met = sum(1 for line in context.verdict if line.met)
    if not verdict_total:
        headline = "No business objectives were set."
    elif context.shipped:
        headline = f"All {verdict_total} business objective{'s are' if verdict_total != 1 else ' is'} met."
    else:
        headline = f"{verdict_met} of {verdict_total} business objectives met."
    metrics = _leaderboard_metrics(context.leaderboard, context.primary_metric)
    exploration = context.exploration
    return {
        "created": format_timestamp(context.created_at),
        "verdict_headline": headline,
        "verdict_lines": [
            (line, "met" if line.met else "unknown" if line.met is None else "missed") for line in context.verdict
        ],
        "holdout": [
            _holdout_card(metric.name, metric.value, metric.ci_low, metric.ci_high) for metric in context.holdout
        ],
        "per_class": [_class_line(row) for row in context.per_class],
        "metrics": metrics,
        "leaderboard": _leaderboard_rows(context.leaderboard, metrics, one_fold=context.one_fold),
        "importance": _importance_bars(context.feature_importance),
        "quality": _findings(context.quality),
        "quality_counts": {
            severity: sum(1 for f in context.quality if f.severity == severity)
            for severity in ("error", "warn", "info")
        },
        "eda_scope": _eda_scope(exploration) if exploration else None,
        "total_duration": format_duration(sum(stage.duration_s for stage in context.stages)),
        "cached_stages": sum(1 for stage in context.stages if stage.cached),
        "manifest": _flatten(context.manifest),
    }


def _holdout_card(name: str, value: float, low: float | None, high: float | None) -> _HoldoutCard:
    interval = None
    if low is not None and high is not None:
        interval = f"95% CI {format_metric(name, low, like=value)} – {format_metric(name, high, like=value)}"
    better = "lower is better" if lower_is_better(name) else "higher is better"
    return _HoldoutCard(metric_label(name), format_metric(name, value), interval, better)


def _class_line(row: ClassRow) -> _ClassLine:
    """'0.812' and '0.774 – 0.851' per figure; '—' where the holdout leaves it undefined."""
    cells = []
    for value, low, high in (row.precision, row.recall, row.f1):
        shown = "—" if value is None or math.isnan(value) else f"{value:.3f}"
        interval = f"{low:.3f} – {high:.3f}" if low is not None and high is not None else ""
        cells.append((shown, interval))
    return _ClassLine(row.label, f"{row.support:,}", cells)


def _leaderboard_metrics(rows: list[LeaderboardRow], primary: str) -> list[str]:
    """Primary metric first, then the others in the order the runner reported them."""
    names = [primary] if any(primary in row.scores for row in rows) else []
    for row in rows:
        names += [name for name in row.scores if name not in names]
    return names


def _leaderboard_rows(rows: list[LeaderboardRow], metrics: list[str], *, one_fold: bool) -> list[_LeaderRow]:
    best: dict[str, float] = {}
    for name in metrics:
        means = [row.scores[name][0] for row in rows if name in row.scores and not math.isnan(row.scores[name][0])]
        if means:
            best[name] = min(means) if lower_is_better(name) else max(means)
    view = []
    for row in rows:
        cells = []
        for name in metrics:
            if name not in row.scores:
                cells.append(_Cell("–", False))
                continue
            mean, sd = row.scores[name]
            text = format_metric(name, mean) if one_fold else (
                f"{format_metric(name, mean)} ± {format_metric(name, sd, like=mean)}")
            cells.append(_Cell(text, best.get(name) == mean))
        primary = metrics[0] if metrics else ""
        train = format_metric(primary, row.train_score) if row.train_score is not None else "–"
        predict = "–" if row.predict_ms_per_row is None else f"{row.predict_ms_per_row:.3g} ms"
        view.append(_LeaderRow(row.model, row.chosen, cells, train, format_duration(row.fit_time_s), predict))
    return view


def _importance_bars(importance: list[tuple[str, float]]) -> list[_Bar]:
    peak = max((abs(value) for _, value in importance), default=0.0)
    return [
        _Bar(name, format_number(value), round(100 * abs(value) / peak, 1) if peak else 0.0, value < 0)
        for name, value in importance
    ]


def _findings(findings: list[QualityFinding]) -> list[_Finding]:
    ordered = sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 3))
    view = []
    for finding in ordered:
        columns = ", ".join(finding.columns[:_MAX_COLUMNS_LISTED])
        if len(finding.columns) > _MAX_COLUMNS_LISTED:
            columns += f" and {len(finding.columns) - _MAX_COLUMNS_LISTED} more"
        severity = finding.severity if finding.severity in _SEVERITY_ORDER else "info"
        detail = finding.detail + (f" (e.g. {finding.example})" if finding.example else "")
        view.append(_Finding(severity, finding.check, columns, f"{finding.count:,}", detail))
    return view


def _eda_scope(exploration: Any) -> str:
    scope = f"{exploration.n_rows:,} rows × {exploration.n_columns:,} columns"
    if exploration.sampled_rows < exploration.n_rows:
        return f"{scope}; charts use a random sample of {exploration.sampled_rows:,} rows."
    return f"{scope}; charts use every row."


def _flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts become dotted keys, so the manifest reads as one flat table."""
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, prefix=f"{name}.")
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            rows.append((name, ", ".join(str(v) for v in value)))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            rows.append((name, "–" if value is None else str(value)))
        else:
            rows.append((name, json.dumps(value, default=str, ensure_ascii=False)))
    return rows

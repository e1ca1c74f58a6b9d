"""Small charts drawn on the server as inline SVG: no script, no image request; each series is also told by its
points' tooltips and by the table beside the chart, so nothing rests on colour alone."""

from __future__ import annotations

from html import escape
from typing import Any

import markupsafe

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
COLOURS = ("#2d5f8a", "#c07a1a", "#6b4c9a", "#1e7a3c", "#a8322d", "#3b9ab2")
DASHES = ("", "2 3", "6 3")


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_labels: dict[float, str],
               threshold: float | None = None) -> markupsafe.Markup:
    """Lines of (x, y) points, one per named series, with a dashed threshold when there is one. Non-finite points
    are left out; a chart with fewer than two points in all draws nothing."""
    clean = {name: sorted((float(x), float(y)) for x, y in points if y == y and abs(y) != float("inf"))
             for name, points in series.items()}
    xs = [x for points in clean.values() for x, _ in points]
    if len(xs) < 2:
        return markupsafe.Markup("")
    values = [y for points in clean.values() for _, y in points] + ([threshold] if threshold is not None else [])
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    first, span = min(xs), (max(xs) - min(xs)) or 1.0

    def x_of(x: float) -> float:
        return LEFT + (x - first) / span * (WIDTH - LEFT - RIGHT)

    def y_of(y: float) -> float:
        return TOP + (high - y) / (high - low) * (HEIGHT - TOP - BOTTOM)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#b8c2ca"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#b8c2ca"/>']
    for value in (low, high):
        parts.append(f'<text x="{LEFT - 6}" y="{y_of(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#5f6b73">{value:.4g}</text>')
    for x in sorted({min(xs), max(xs)}):
        label = x_labels.get(x, f"{x:g}")
        parts.append(f'<text x="{x_of(x):.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" '
                     f'fill="#5f6b73">{escape(label)}</text>')
    if threshold is not None:
        parts.append(f'<line class="threshold" x1="{LEFT}" y1="{y_of(threshold):.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y_of(threshold):.1f}" stroke="#a8322d" stroke-dasharray="5 4"/>')
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{y_of(threshold) - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#a8322d">threshold {threshold:.4g}</text>')
    for index, (name, points) in enumerate(clean.items()):
        colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
        line = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline class="series" data-series="{escape(name)}" points="{line}" fill="none" '
                     f'stroke="{colour}" stroke-width="1.5"{dashed}/>')
        if len(points) <= 60:
            parts += [f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="2.5" fill="{colour}"><title>'
                      f"{escape(name)} {escape(x_labels.get(x, f'{x:g}'))}: {y:.4g}</title></circle>"
                      for x, y in points]
    if len(clean) > 1:
        for index, name in enumerate(clean):
            parts.append(f'<text x="{LEFT + 8 + 110 * index}" y="{TOP + 10}" font-size="11" '
                         f'fill="{COLOURS[index % len(COLOURS)]}">— {escape(name)}</text>')
    parts.append("</svg>")
    return markupsafe.Markup("".join(parts))  # nosec B704: numbers and escaped names only


def metric_over_versions(points: list[tuple[int, float]], *, metric: str, threshold: float | None = None
                         ) -> markupsafe.Markup:
    """One metric of each model version, oldest left, the success threshold dashed."""
    return line_chart({metric: [(float(v), value) for v, value in points]},
                      title=f"{metric} of each model version", threshold=threshold,
                      x_labels={float(v): f"v{v}" for v, _ in points})


def drift_over_checks(history: list[dict[str, Any]], *, threshold: float, top: int = 5
                      ) -> tuple[markupsafe.Markup, list[tuple[str, float]]]:
    """PSI per feature over the stored `cairn monitor` checks (rows of Store.drift_history, oldest first): a line
    for each of the ``top`` features with the highest PSI at the latest check, the drift threshold dashed. Returns
    the chart and those features with their latest PSI."""
    checks: dict[str, dict[str, float]] = {}
    when: dict[str, Any] = {}
    for row in history:
        checks.setdefault(row["check_id"], {})
        when.setdefault(row["check_id"], row["checked_at"])
        if row["feature"] is not None and row["psi"] is not None:
            checks[row["check_id"]][row["feature"]] = float(row["psi"])
    if not checks:
        return markupsafe.Markup(""), []
    order = sorted(checks, key=lambda check: when[check])
    latest = checks[order[-1]]
    chosen = sorted(latest.items(), key=lambda item: -item[1])[:top]
    same_day = len({when[check].date() for check in order}) < len(order)
    labels = {float(i): f"{when[check]:%m-%d %H:%M}" if same_day else f"{when[check]:%Y-%m-%d}"
              for i, check in enumerate(order)}
    series = {name: [(float(i), checks[check][name]) for i, check in enumerate(order) if name in checks[check]]
              for name, _ in chosen}
    return line_chart(series, title="PSI per feature over checks", x_labels=labels, threshold=threshold), chosen


def contribution_bars(contributions: list[tuple[str, float]], *, unit: str) -> markupsafe.Markup:
    """Horizontal bars of each input's contribution to one answer, largest first: right of the axis raises the
    answer, left lowers it (the sign is also written, for anyone who does not see the colours)."""
    if not contributions:
        return markupsafe.Markup("")
    row, label_w, width = 20, 170, 640
    height = row * len(contributions) + 24
    largest = max(abs(value) for _, value in contributions) or 1.0
    margin = 56  # room for a value's label at either end of its bar
    half = (width - label_w - 2 * margin) / 2
    middle = label_w + margin + half
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="contributions to the answer, in {escape(unit)}">',
             f"<title>contributions to the answer, in {escape(unit)}</title>",
             f'<line x1="{middle:.1f}" y1="4" x2="{middle:.1f}" y2="{height - 16}" stroke="#b8c2ca"/>']
    for index, (name, value) in enumerate(contributions):
        top = 6 + index * row
        size = abs(value) / largest * half
        left = middle if value >= 0 else middle - size
        colour = "#1e7a3c" if value >= 0 else "#a8322d"
        parts.append(f'<text x="{label_w - 6}" y="{top + 12}" text-anchor="end" font-size="12" fill="#1d2327">'
                     f"{escape(name[:28])}</text>")
        parts.append(f'<rect class="bar" data-input="{escape(name)}" x="{left:.1f}" y="{top + 2}" '
                     f'width="{max(size, 0.5):.1f}" height="{row - 6}" fill="{colour}"><title>{escape(name)}: '
                     f"{value:+.4g}</title></rect>")
        anchor, at = ("start", middle + size + 4) if value >= 0 else ("end", middle - size - 4)
        parts.append(f'<text x="{at:.1f}" y="{top + 12}" text-anchor="{anchor}" font-size="11" fill="#5f6b73">'
                     f"{value:+.3g}</text>")
    parts.append("</svg>")
    return markupsafe.Markup("".join(parts))  # nosec B704: numbers and escaped names only

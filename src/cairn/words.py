"""Words and numbers: how shares, values, levels and lists of names are written in sentences and on axes.

Insights and figures both print numbers for a person to read, so the rules (99.6% must not round to 100%, text
levels are quoted and numbers are not, long names are cut with an ellipsis) live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percent(share: float) -> str:
    """Whole percents read best, but 99.6% must not become 100%, nor 0.4% become 0%."""
    pct = float(share) * 100
    if pct == 0 or pct == 100:
        return f"{pct:.0f}%"
    if pct < 0.1:
        return "<0.1%"
    if 10 <= pct < 99.5:
        return f"{pct:.0f}%"
    return f"{pct:.1f}%"


def number(value: float) -> str:
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def compact(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def level(value: object) -> str:
    """Quote text levels, show numbers bare: 'No_Pool' but 0."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return number(float(value))
    return f"'{value}'"


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def count(n: int, singular: str, plural: str) -> str:
    return f"{n:,} {singular if n == 1 else plural}"


def and_list(items: Sequence[str]) -> str:
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def name_list(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def byte_size(count: int) -> str:
    """Bytes as a person reads them: 812 bytes, 3.4 KiB, 81.7 MiB."""
    size = float(count)
    for unit in ("bytes", "KiB", "MiB"):
        if size < (1024 if unit == "bytes" else 1023.95):  # 1,048,575 bytes is 1.0 MiB, not 1024.0 KiB
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"

"""Learning curves of the best models: train and cross-validated score as the training rows grow.

A gap between the two lines that stays open is variance (more data or more regularisation helps); two lines that
meet at a poor score are bias (a richer model or better features help). Drawn with the EDA stage's helpers, so
the report's figures look alike.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure as MplFigure

from cairn.metrics.catalogue import is_percent
from cairn.plots import ACCENT, TREND, Figure, png, tidy


def learning_curve_figure(curves: list[Any], *, metric: str) -> Figure | None:
    if not curves:
        return None
    scale = 100.0 if is_percent(metric) else 1.0
    fig = MplFigure(figsize=(4.2 * len(curves), 3.0))
    for index, curve in enumerate(curves):
        ax = fig.add_subplot(1, len(curves), index + 1)
        tidy(ax, grid="both")
        cv = [value * scale for value in curve.cv]
        spread = [value * scale for value in curve.cv_sd]
        ax.plot(curve.rows, [value * scale for value in curve.train], marker="o", color=TREND, label="train")
        ax.plot(curve.rows, cv, marker="o", color=ACCENT, label="cross-validated")
        ax.fill_between(curve.rows, [c - s for c, s in zip(cv, spread, strict=True)],
                        [c + s for c, s in zip(cv, spread, strict=True)], color=ACCENT, alpha=0.15, linewidth=0)
        ax.set_title(curve.model, fontsize=10)
        ax.set_xlabel("training rows per fold", fontsize=8)
        ax.set_ylabel(metric.upper() + (" (%)" if scale == 100.0 else ""), fontsize=8)
        if index == 0:
            ax.legend(fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.18, top=0.88, wspace=0.3)
    final = curves[0]
    gap = abs(final.cv[-1] - final.train[-1]) * scale
    unit = "points" if scale == 100.0 else ""
    caption = (f"For {final.model}, the cross-validated {metric.upper()} sits {gap:.3g} {unit} from the training "
               "score at full size: a gap that stays open means variance, two lines meeting at a poor score mean bias.")
    return Figure("Learning curves of the best models", caption.replace("  ", " "), png(fig))

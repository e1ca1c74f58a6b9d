"""The report's diagnostic figures, drawn from the numbers the evaluation stage kept (cairn.stages.diagnostics):
ROC, precision-recall with the decision threshold marked, calibration and the confusion matrix for classifiers;
predicted against actual and residuals against predicted for regression. Plus the threshold curve it was chosen
on (out of fold) and the worst segments' sentences."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from cairn.plots import ACCENT, MUTED, TREND, Figure, png, tidy
from cairn.report.context import DiagnosticsSection


def diagnostics_section(evaluation: Any) -> DiagnosticsSection | None:
    """None for a run without an evaluation (or one stored before diagnostics existed)."""
    diagnostics = getattr(evaluation, "diagnostics", None) if evaluation is not None else None
    if diagnostics is None:
        return None
    threshold = getattr(evaluation, "threshold", None)
    figures = [f for f in _figures(diagnostics, threshold) if f is not None]
    segments = [segment.sentence for segment in getattr(evaluation, "segments", [])]
    notes = list(getattr(evaluation, "notes", []))
    return DiagnosticsSection(figures, threshold.text if threshold is not None else "", segments, notes)


def _figures(d: Any, threshold: Any) -> list[Figure | None]:
    if d.problem == "regression":
        return [_regression(d)]
    figures = [_roc(d)]
    if d.problem == "binary":
        figures += [_precision_recall(d), _calibration(d), _threshold_curve(threshold)]
    figures.append(_confusion(d))
    return figures


def _roc(d: Any) -> Figure | None:
    if not d.roc:
        return None
    fig = MplFigure(figsize=(4.2, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="both")
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=1)
    for curve in d.roc:
        ax.plot(curve.x, curve.y, linewidth=1.5, label=f"{curve.name} (AUC {curve.area:.3f})",
                color=ACCENT if len(d.roc) == 1 else None)
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.95)
    what = f"class '{d.roc[0].name}'" if d.problem == "binary" else "each class against the rest"
    return Figure("ROC curve", f"On the holdout, for {what}: the higher and further left, the better the "
                  "ranking; the dashed line is chance.", png(fig))


def _precision_recall(d: Any) -> Figure | None:
    if d.precision_recall is None:
        return None
    fig = MplFigure(figsize=(4.2, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="both")
    curve = d.precision_recall
    ax.plot(curve.x, curve.y, color=ACCENT, linewidth=1.5, label=f"AP {curve.area:.3f}")
    caption = f"On the holdout, for class '{d.positive_class}'."
    if d.at_threshold is not None:
        recall, precision = d.at_threshold
        ax.scatter([recall], [precision], color=TREND, zorder=3, label=f"threshold {d.threshold or 0.5:.3g}")
        caption += (f" The dot is the decision threshold {d.threshold or 0.5:.3g}: recall {recall:.3f}, "
                    f"precision {precision:.3f}.")
    ax.set_xlabel("recall", fontsize=8)
    ax.set_ylabel("precision", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.95)
    return Figure("Precision-recall curve", caption, png(fig))


def _calibration(d: Any) -> Figure | None:
    if d.calibration is None:
        return None
    fig = MplFigure(figsize=(4.2, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="both")
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=1)
    ax.plot(d.calibration.x, d.calibration.y, marker="o", color=ACCENT, linewidth=1.5)
    ax.set_xlabel(f"predicted probability of '{d.positive_class}'", fontsize=8)
    ax.set_ylabel("observed share", fontsize=8)
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.95)
    return Figure("Calibration curve", f"Holdout rows in ten bins of predicted probability: on the dashed line, "
                  f"a predicted 30% happens 30% of the time (Brier score {d.calibration.area:.3f}).", png(fig))


def _threshold_curve(threshold: Any) -> Figure | None:
    curve = getattr(threshold, "curve", None)
    if curve is None or not curve.thresholds:
        return None
    fig = MplFigure(figsize=(4.2, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    tidy(ax, grid="both")
    ax.plot(curve.thresholds, curve.precision, color=ACCENT, linewidth=1.5, label="precision")
    ax.plot(curve.thresholds, curve.recall, color=TREND, linewidth=1.5, label="recall")
    ax.axvline(threshold.value, color="#333333", linestyle="--", linewidth=1)
    ax.set_xlabel("decision threshold", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.95)
    return Figure("Decision threshold", f"Out-of-fold precision and recall at each threshold; the dashed line is "
                  f"the chosen one. {threshold.text[:1].upper()}{threshold.text[1:]}.", png(fig))


def _confusion(d: Any) -> Figure | None:
    if not d.confusion:
        return None
    matrix = np.asarray(d.confusion)
    size = min(2.4 + 0.45 * len(matrix), 7.0)
    fig = MplFigure(figsize=(size + 0.6, size))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        ax.text(column, row, f"{count:,}", ha="center", va="center", fontsize=8,
                color="white" if count > matrix.max() / 2 else "#222222")
    ticks = range(len(d.confusion_labels))
    ax.set_xticks(ticks, d.confusion_labels, fontsize=7, rotation=30 if len(matrix) > 4 else 0)
    ax.set_yticks(ticks, d.confusion_labels, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("actual", fontsize=8)
    fig.subplots_adjust(left=0.22, right=0.97, bottom=0.2, top=0.95)
    at = f" at the decision threshold {d.threshold:.3g}" if d.threshold is not None else ""
    return Figure("Confusion matrix", f"Holdout rows by actual and predicted class{at}.", png(fig))


def _regression(d: Any) -> Figure | None:
    if not d.predicted:
        return None
    predicted, actual = np.asarray(d.predicted), np.asarray(d.actual)
    fig = MplFigure(figsize=(8.4, 3.4))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for ax in (left, right):
        tidy(ax, grid="both")
    low, high = float(min(predicted.min(), actual.min())), float(max(predicted.max(), actual.max()))
    left.scatter(actual, predicted, s=6, alpha=0.5, color=ACCENT, linewidths=0)
    left.plot([low, high], [low, high], color=MUTED, linestyle="--", linewidth=1)
    left.set_xlabel("actual", fontsize=8)
    left.set_ylabel("predicted", fontsize=8)
    right.scatter(predicted, actual - predicted, s=6, alpha=0.5, color=ACCENT, linewidths=0)
    right.axhline(0, color=MUTED, linestyle="--", linewidth=1)
    right.set_xlabel("predicted", fontsize=8)
    right.set_ylabel("residual (actual - predicted)", fontsize=8)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.95, wspace=0.3)
    return Figure("Predicted against actual, and residuals", f"{len(predicted):,} holdout rows: points on the "
                  "dashed line are exact; residuals that fan out or bend show where the model is off.", png(fig))

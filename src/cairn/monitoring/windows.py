"""Performance per time window: the success metrics on the rows whose truth came back, with their bootstrap
interval and the business threshold, and an estimate beside them (cairn.monitoring.estimate) on every row served.

A row's time is its prediction's (the log's ``at``; for a file of input rows, when it was fed back), or the
feedback file's ``monitoring.time_column`` when it has one. Windows are aligned on the Unix epoch (7d windows
start on Thursdays, 00:00 UTC): the same row falls in the same window at every `cairn monitor`, so the stored
history is upserted, never duplicated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cairn.config.schema import ProjectConfig, SuccessCriterion
from cairn.metrics.resampled import resampled_scores
from cairn.metrics.scoring import score, shown
from cairn.model.trained import TrainedModel
from cairn.monitoring.estimate import ESTIMABLE_REGRESSION, expected_classification_metrics

__all__ = ["Window", "WindowMetric", "performance_windows", "served_table", "window_rows"]

MAX_RESAMPLES = 1000
SLOW_RESAMPLES = 200  # a metric with no vectorised form is scored one resample at a time
# A window judges the objective on ground truth from this many labelled rows: below, a percentile bootstrap is
# degenerate (two wrong answers resample to accuracy 0 every time: an interval [0, 0] that only looks certain).
VERDICT_ROWS_AT_LEAST = 20


@dataclass(frozen=True)
class WindowMetric:
    metric: str
    kind: str  # realised | estimated
    value: float | None
    low: float | None
    high: float | None
    threshold: float | None
    met: bool | None
    rows: int

    def text(self) -> str:
        if self.value is None:
            return f"{self.metric} -"
        interval = (f" [{shown(self.metric, self.low)}, {shown(self.metric, self.high)}]"
                    if self.low is not None and self.high is not None else "")
        return f"{self.metric} {shown(self.metric, self.value)}{interval}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "kind": self.kind, "value": self.value, "low": self.low, "high": self.high,
                "threshold": self.threshold, "met": self.met, "rows": self.rows}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    rows: int  # predictions served (or fed back as input rows) in the window
    labelled: int  # of which the truth came back
    metrics: list[WindowMetric] = field(default_factory=list)

    def realised(self, metric: str) -> WindowMetric | None:
        return next((m for m in self.metrics if m.metric == metric and m.kind == "realised"), None)

    def estimated(self, metric: str) -> WindowMetric | None:
        return next((m for m in self.metrics if m.metric == metric and m.kind == "estimated"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "rows": self.rows,
                "labelled": self.labelled, "metrics": [m.to_dict() for m in self.metrics]}


def served_table(log_lines: list[dict[str, Any]], feedback: list[dict[str, Any]], *, version: int,
                 feature_names: list[str]) -> pd.DataFrame:
    """One row per prediction of ``version``: ``at`` (UTC), ``actual`` (None where no truth came back), ``served``
    (the prediction as answered) and the model's inputs. Logged predictions get the latest truth fed back for their
    id; file rows of inputs are rows of their own. A fed-back time (``monitoring.time_column``) replaces the
    prediction's."""
    latest: dict[str, dict[str, Any]] = {}
    extra: list[dict[str, Any]] = []
    for row in feedback:
        if row["version"] != version:
            continue
        if row["record"] is not None:
            extra.append(row)
        else:
            latest[row["prediction_id"]] = row  # oldest first: the latest received wins
    records: list[dict[str, Any]] = []
    times: list[Any] = []
    actuals: list[Any] = []
    served: list[Any] = []
    for line in log_lines:
        records.append(line["record"])
        served.append(line.get("prediction"))
        found = latest.get(str(line.get("id"))) if line.get("id") is not None else None
        times.append(found["event_at"] if found is not None and found["event_at"] is not None else line.get("at"))
        actuals.append(found["actual"] if found is not None else None)
    for row in extra:
        records.append(row["record"])
        served.append(row["prediction"])
        times.append(row["event_at"] or row["received_at"])
        actuals.append(row["actual"])
    table = pd.DataFrame.from_records(records, columns=feature_names) if records else pd.DataFrame(
        columns=feature_names)
    table["at"] = pd.to_datetime(pd.Series(times, dtype="object"), utc=True, errors="coerce", format="mixed")
    table["actual"] = pd.Series(actuals, dtype="object")
    table["served"] = pd.Series(served, dtype="object")
    return table[table["at"].notna()].reset_index(drop=True)


WEEK_S = 7 * 24 * 3600
MONDAY_BEFORE_EPOCH_S = -3 * 24 * 3600  # 1970-01-01 was a Thursday


def window_rows(at: pd.Series, hours: int) -> tuple[np.ndarray, list[tuple[datetime, datetime]]]:
    """Each row's window number (0 = the earliest window with rows) and each window's (start, end). Windows are
    counted from 1970-01-01 UTC (a day starts at midnight UTC), and windows of whole weeks start on a Monday, as
    business weeks do."""
    seconds = hours * 3600
    origin = MONDAY_BEFORE_EPOCH_S if seconds % WEEK_S == 0 else 0
    stamps = ((at - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype="int64") - origin
    keys = stamps // seconds
    unique = np.unique(keys)
    bounds = [(datetime.fromtimestamp(int(k) * seconds + origin, UTC),
               datetime.fromtimestamp(int(k + 1) * seconds + origin, UTC)) for k in unique]
    return np.searchsorted(unique, keys), bounds


def _ordered(model: TrainedModel, probabilities: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Probabilities and classes the way the metrics read them (binary: of the positive class, which is last)."""
    if probabilities is None or not model.classes:
        return None, None
    classes = np.array(model.classes)
    if model.problem != "binary":
        return probabilities, classes
    column = classes.tolist().index(model.positive_class) if model.positive_class in classes.tolist() else 1
    return probabilities[:, column], np.array([classes[1 - column], classes[column]])


def _interval(metric: str, truth: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
              classes: np.ndarray | None, *, resamples: int, confidence: float, seed: int
              ) -> tuple[float | None, float | None]:
    """The bootstrap interval of the metric on a window's labelled rows (None with fewer than two rows)."""
    rows = len(truth)
    if rows < 2:
        return None, None
    rng = np.random.default_rng(seed)
    block = rng.integers(0, rows, size=(min(resamples, MAX_RESAMPLES), rows))
    values = resampled_scores(metric, truth, predicted, proba, classes, block)
    if values is None:
        scored = []
        for drawn in block[:SLOW_RESAMPLES]:
            try:
                scored.append(score(metric, truth[drawn], predicted[drawn],
                                    None if proba is None else proba[drawn], classes=classes))
            except ValueError:
                scored.append(np.nan)
        values = np.array(scored)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _verdict(criterion: SuccessCriterion, value: float | None) -> bool | None:
    return None if value is None or not np.isfinite(value) else bool(criterion.is_met(value))


def _interval_verdict(criterion: SuccessCriterion, value: float | None, low: float | None, high: float | None,
                      *, rows: int) -> bool | None:
    """Met or missed on ground truth only on VERDICT_ROWS_AT_LEAST labelled rows and when the window's whole
    interval agrees with its value; otherwise None (no verdict): one row once read 'MAPE < 30% is missed: mape
    58.4%' and counted towards retraining."""
    point = _verdict(criterion, value)
    if point is None or low is None or high is None or rows < VERDICT_ROWS_AT_LEAST:
        return None
    return point if _verdict(criterion, low) == _verdict(criterion, high) == point else None


def performance_windows(table: pd.DataFrame, *, model: TrainedModel, config: ProjectConfig,
                        error_model: Any = None, estimate: bool = True,
                        progress: Callable[[str], None] | None = None) -> list[Window]:
    """The windows of ``table`` (from ``served_table``), oldest first, each with the success metrics realised on
    its labelled rows and estimated on all its rows (classifiers from their probabilities; regression from
    ``error_model``, when given)."""
    if table.empty:
        return []
    criteria = config.business.success
    if not criteria:
        return []
    hours = config.monitoring.window_hours
    numbers, bounds = window_rows(table["at"], hours)
    inputs = model.inputs(table[model.feature_names])
    frame = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
    predicted, probabilities = model.answer(inputs)
    if model.personal_columns and "served" in table.columns and table["served"].notna().all():
        # the logged records hold personal columns already hashed or masked: predicting them again would protect
        # them twice. The answers as served are scored instead, without probabilities or estimates.
        predicted, probabilities, error_model, estimate = np.array(table["served"].tolist()), None, None, False
    proba, classes = _ordered(model, probabilities)
    known = table["actual"].notna().to_numpy()
    truth_all = table["actual"].to_numpy()
    windows: list[Window] = []
    for number, (start, end) in enumerate(bounds):
        rows = numbers == number
        labelled = rows & known
        metrics: list[WindowMetric] = []
        if labelled.any():
            truth = truth_all[labelled]
            # classes: the labels as fed back (JSON: text, numbers, booleans), in numpy's own type for them
            truth = truth.astype("float64") if model.problem == "regression" else np.array(truth.tolist())
            for criterion in criteria:
                metric = criterion.metric
                window_proba = None if proba is None else proba[labelled]
                try:
                    value: float | None = score(metric, truth, predicted[labelled], window_proba, classes=classes)
                except ValueError:  # AUC on a window of one class
                    value = None
                low, high = _interval(metric, truth, predicted[labelled], window_proba, classes,
                                      resamples=config.evaluation.bootstrap, confidence=config.evaluation.confidence,
                                      seed=config.seed) if value is not None else (None, None)
                metrics.append(WindowMetric(metric, "realised", value, low, high, criterion.threshold,
                                            _interval_verdict(criterion, value, low, high, rows=int(labelled.sum())),
                                            int(labelled.sum())))
        if estimate:
            metrics += _estimates(criteria, model=model, rows=rows, frame=frame, predicted=predicted,
                                  probabilities=probabilities, error_model=error_model, seed=config.seed)
        windows.append(Window(start, end, int(rows.sum()), int(labelled.sum()), metrics))
    return windows


def _estimates(criteria: list[SuccessCriterion], *, model: TrainedModel, rows: np.ndarray, frame: pd.DataFrame,
               predicted: np.ndarray, probabilities: np.ndarray | None, error_model: Any, seed: int
               ) -> list[WindowMetric]:
    count = int(rows.sum())
    values: dict[str, float] = {}
    if model.problem == "regression":
        if error_model is not None:
            values = error_model.metrics(frame[rows].reset_index(drop=True), predicted[rows])
            values = {k: v for k, v in values.items() if k in ESTIMABLE_REGRESSION}
    elif probabilities is not None and model.classes:
        values = expected_classification_metrics(
            [c.metric for c in criteria], predicted=predicted[rows], probabilities=probabilities[rows],
            classes=np.array(model.classes), positive=model.positive_class, seed=seed)
    estimated = []
    for criterion in criteria:
        if criterion.metric in values:
            value = values[criterion.metric]
            # two requests, one of them absurd, once fired the estimate_missed rule: no verdict below the rows a
            # verdict on ground truth needs
            verdict = _verdict(criterion, value) if count >= VERDICT_ROWS_AT_LEAST else None
            estimated.append(WindowMetric(criterion.metric, "estimated", value, None, None, criterion.threshold,
                                          verdict, count))
    return estimated

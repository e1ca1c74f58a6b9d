"""`cairn monitor`'s performance over time, for a project: the served predictions and the feedback stored for
them, cut into windows, scored and estimated (cairn.monitoring.windows), the history upserted in the store, and
the webhook called when the monitor advises retraining."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import CairnError, NotFoundError
from cairn.model.trained import TrainedModel
from cairn.monitoring.feedback import read_log
from cairn.monitoring.windows import Window, WindowMetric, performance_windows, served_table

__all__ = ["error_model", "feedback_records", "monitored_windows", "notify"]

log = logging.getLogger(__name__)

ERROR_MODEL = "error_model"
MIN_HOLDOUT_ROWS = 50  # fewer holdout rows make an error model that says nothing: no regression estimate


def monitored_windows(project: Any, model: TrainedModel, *, estimate: bool = True) -> list[Window]:
    """The model version's performance windows, computed from its prediction log and the feedback stored, and
    saved in the store (upserted per window, metric and kind). Windows without any row are not listed."""
    config = project.config
    with project._existing_store() as store:
        feedback = store.feedback(config.project, model.name, model.version)
    lines = read_log(project.prediction_log_path(model))
    table = served_table(lines, feedback, version=model.version, feature_names=model.feature_names)
    if table.empty:
        return []
    errors = error_model(project, model) if estimate and model.problem == "regression" else None
    windows = performance_windows(table, model=model, config=config, error_model=errors, estimate=estimate)
    now = datetime.now(UTC)
    rows = [{"project": config.project, "model": model.name, "version": model.version, "window_start": w.start,
             "window_end": w.end, "metric": m.metric, "kind": m.kind, "value": _finite(m.value), "low": _finite(m.low),
             "high": _finite(m.high), "threshold": m.threshold, "met": m.met, "rows": m.rows, "computed_at": now}
            for w in windows for m in w.metrics]
    with project._existing_store() as store:
        store.save_performance(rows)
    return windows


def stored_windows(project: Any, model: TrainedModel) -> list[Window]:
    """The performance history of a version as the store holds it (what earlier monitors computed)."""
    with project._existing_store() as store:
        rows = store.performance(project.config.project, model.name, model.version)
    windows: dict[datetime, Window] = {}
    for row in rows:
        window = windows.setdefault(row["window_start"], Window(row["window_start"], row["window_end"], 0, 0, []))
        window.metrics.append(WindowMetric(row["metric"], row["kind"], row["value"], row["low"], row["high"],
                                           row["threshold"], row["met"], row["rows"]))
    return list(windows.values())


def error_model(project: Any, model: TrainedModel) -> Any:
    """The model of the absolute error behind a regression estimate: fitted once per version from the holdout of
    the run that trained it, then kept in the store. None (with a log line) when there is no holdout to fit on."""
    from cairn.monitoring.estimate import fit_error_model

    config = project.config
    with project._existing_store() as store:
        sha = store.monitoring_artifact(config.project, model.name, model.version, ERROR_MODEL)
        if sha is not None and store.artifacts.exists(sha):
            return store.load_artifact(sha)
    try:
        holdout, scorer = _holdout_and_scorer(project, model)
    except CairnError as error:
        log.info("no error model for %s v%s: %s", model.name, model.version, error)
        return None
    if len(holdout) < MIN_HOLDOUT_ROWS:
        return None
    inputs = scorer.inputs(holdout[model.feature_names])
    frame = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
    predicted, _ = scorer.answer(inputs)
    fitted = fit_error_model(frame.reset_index(drop=True), np.asarray(predicted),
                             holdout[model.target].to_numpy(dtype="float64"), seed=config.seed)
    with project._existing_store() as store:
        store.save_monitoring_artifact(config.project, model.name, model.version, ERROR_MODEL, fitted)
    return fitted


def _holdout_and_scorer(project: Any, model: TrainedModel) -> tuple[pd.DataFrame, TrainedModel]:
    """The holdout rows of the model's run, and the model as the holdout judged it: the pipeline fitted on the
    training split only (deployment may refit on all rows, the holdout included: its errors there are not
    honest)."""
    holdout = project._holdout(model)
    with project._existing_store() as store:
        record = store.run(project.config.project, model.run_id)
        outputs = {stage.stage: stage.outputs for stage in record.stages}
        training = store.load_artifact(outputs["training"]["training_result"])
    pipeline = getattr(training, "pipeline", None)
    scorer = replace(model, pipeline=pipeline) if pipeline is not None else model
    return holdout[holdout[model.target].notna()].reset_index(drop=True), scorer


def feedback_records(project: Any, model: TrainedModel) -> list[dict[str, Any]]:
    """The records of the input rows fed back for this version (used for drift when nothing was served)."""
    with project._existing_store() as store:
        rows = store.feedback(project.config.project, model.name, model.version)
    records = [row["record"] for row in rows if row["record"] is not None]
    if not records:
        raise NotFoundError.single(
            f"No requests have been logged for {model.name} v{model.version}.", where="--data",
            expected="a file of new data, requests served by `cairn serve`, or rows fed back by `cairn feedback`",
            got="none of them", fix="pass --data NEW.csv")
    return records


def notify(project: Any, report: Any) -> Any:
    """POST the report to the URL in `monitoring.webhook_env` when it advises retraining; the report says how it
    went. A variable named but unset, an unreachable URL, a slow or failing receiver: a warning, never an error."""
    from cairn.monitoring.webhook import post_report

    variable = project.config.monitoring.webhook_env
    if variable is None or not report.retrain:
        return report
    url = os.environ.get(variable)
    if not url:
        log.warning("monitoring.webhook_env names %s, which is not set: no webhook call", variable)
        return replace(report, webhook=f"not sent: {variable} is not set")
    return replace(report, webhook=post_report(url, report.to_dict()))


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)

"""Drift kept between `cairn monitor` checks, and the monitoring report built from the store (issue 13).

Each check stores, per judged feature, its PSI, test p-value and verdict, beside the check's share drifted, domain
classifier AUC and prediction PSI (store table cairn_drift_history). The report (cairn.report.monitoring) is then
drawn from plain data: the latest check, the stored checks of the version, its performance windows and the retrain
decisions of the audit log. Personal columns are named, never their values.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cairn.monitoring.feedback import log_parts
from cairn.registry import Registry

__all__ = ["default_report_path", "logged_span", "record_drift_check", "table_span", "write_monitoring_report"]

CHECKS_SHOWN = 60  # newest checks drawn in the report
TAIL_BYTES = 64 * 1024  # the end of a prediction log read for its last request's time


def record_drift_check(project: Any, report: Any, *, first_at: datetime | None = None,
                       last_at: datetime | None = None, checked_at: datetime | None = None) -> str:
    """Store one row per judged feature of ``report`` (a cairn.monitoring.watch.MonitorReport); returns the
    check's id. A check that judged nothing keeps one row without a feature."""
    drift = report.drift
    check = {
        "project": project.config.project, "model": report.model, "version": report.version,
        "check_id": uuid.uuid4().hex, "checked_at": checked_at or datetime.now(UTC), "rows": int(drift.current_rows),
        "first_at": first_at, "last_at": last_at, "share_drifted": float(drift.share_drifted),
        "domain_auc": _finite(drift.domain.auc) if drift.domain is not None else None,
        "prediction_psi": _finite(max((p.psi for p in drift.predictions), default=math.nan)),
    }
    rows = [check | {"feature": f.feature, "psi": _finite(f.psi), "p_value": _finite(f.p_value),
                     "drifted": bool(f.drifted)} for f in drift.judged]
    with project._existing_store() as store:
        store.save_drift_check(rows or [check | {"feature": None, "psi": None, "p_value": None, "drifted": None}])
    return str(check["check_id"])


def logged_span(path: Path) -> tuple[datetime | None, datetime | None]:
    """The times of the first and last request in a prediction log (its rotated parts included), read from the
    first line of the oldest part and the end of the newest: never the whole log."""
    parts = log_parts(path)
    if not parts:
        return None, None
    first = None
    with parts[0].open("rb") as handle:
        for line in handle:
            first = _line_time(line)
            if first is not None:
                break
    last = None
    with parts[-1].open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        for line in reversed(handle.read().splitlines()):
            last = _line_time(line)
            if last is not None:
                break
    return first, last


def table_span(table: pd.DataFrame, column: str | None) -> tuple[datetime | None, datetime | None]:
    """The first and last time in ``monitoring.time_column`` of a file checked with --data, when it has one."""
    if not column or column not in table.columns:
        return None, None
    times = pd.to_datetime(table[column], errors="coerce", utc=True).dropna()
    if times.empty:
        return None, None
    return times.min().to_pydatetime(), times.max().to_pydatetime()


def default_report_path(project: Any, report: Any) -> Path:
    return Path(project.state_dir) / "reports" / f"monitor-{report.model}-v{report.version}.html"


def write_monitoring_report(project: Any, report: Any, path: str | Path) -> Path:
    """The monitoring report of ``report`` (the check just made) and the version's history, written to ``path``."""
    from cairn.report.monitoring import write_monitoring_report as write

    return write(monitoring_context(project, report), Path(path))


def monitoring_context(project: Any, report: Any) -> Any:
    """Everything the report shows, as cairn.report.monitoring's plain data."""
    from cairn.report.monitoring import (
        DriftCheck,
        DriftLine,
        MonitoringContext,
        RetrainDecision,
        WindowPoint,
    )

    config = project.config
    model = project.load_model(report.version)
    personal = {column.column for column in getattr(model, "personal_columns", [])}
    with project._existing_store() as store:
        history = store.drift_history(config.project, report.model, report.version, last_checks=CHECKS_SHOWN)
        audit = Registry(store).audit(report.model, limit=1000)
    checks = _checks(history, DriftCheck)
    drift = report.drift
    lines = [DriftLine(f.feature, f.kind, _finite(f.psi) if f.judged else None, f.test, _finite(f.p_value),
                       bool(f.drifted), "personal column: its values are not shown" if f.feature in personal
                       else f.detail) for f in drift.features]
    notes = [f"{p.feature} (the model's answer): {p.detail}" for p in drift.predictions]
    notes += [(f"{n.feature}: new levels in {n.share:.0%} of rows (a personal column: its levels are not shown)"
               if n.feature in personal else n.text()) for n in drift.new_categories]
    notes += [m.text() for m in drift.missing_changes]
    if drift.domain is not None:
        notes.append(drift.domain.sentence)
    windows = [WindowPoint(w.start, w.end, m.metric, m.kind, _finite(m.value), _finite(m.low), _finite(m.high),
                           m.threshold, m.met, m.rows) for w in report.windows for m in w.metrics]
    decisions = [RetrainDecision(e.at, e.actor, e.version, e.figures.get("promoted"), e.reason or "",
                                 {k: v for k, v in e.figures.items() if k != "promoted"})
                 for e in audit if e.action == "retrain"]
    latest = checks[-1] if checks else None
    return MonitoringContext(
        project=config.project, model=report.model, version=report.version, created_at=datetime.now(UTC),
        status=_status(report), advice=report.advice, todo=_todo(report, project),
        rows=drift.current_rows, first_at=latest.first_at if latest else None,
        last_at=latest.last_at if latest else None, psi_threshold=drift.threshold, drift=lines, notes=notes,
        checks=checks, windows=windows, decisions=decisions, rules=[_rule_text(rule) for rule in report.rules])


def _checks(history: list[dict[str, Any]], make: Any) -> list[Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        grouped.setdefault(row["check_id"], []).append(row)
    checks = []
    for rows in grouped.values():
        head = rows[0]
        checks.append(make(head["checked_at"], head["rows"], head["share_drifted"], head["domain_auc"],
                           head["prediction_psi"], {r["feature"]: r["psi"] for r in rows
                                                    if r["feature"] is not None and r["psi"] is not None},
                           head["first_at"], head["last_at"]))
    return sorted(checks, key=lambda check: check.checked_at)


def _status(report: Any) -> str:
    if report.retrain:
        return "retrain"
    if report.latest_missed:
        return "missed"
    if report.advice.startswith("Watch"):
        return "watch"
    if report.advice.startswith("No verdict"):
        return "no verdict"
    return "healthy"


def _todo(report: Any, project: Any) -> list[str]:
    """What to do, in the order to do it."""
    todo = []
    drifted = [f.feature for f in report.drift.drifted]
    if report.retrain:
        todo.append(f"Retrain: `cairn retrain` (or `cairn monitor --retrain`) trains a challenger on the ground truth "
                    f"fed back; it replaces v{report.version} only if it beats it on the newest labelled rows.")
    elif report.latest_missed:
        todo.append("The objective is missed on ground truth in the latest window: if a recent promote caused it, "
                    "`cairn rollback`; else retrain with `cairn retrain`.")
    if drifted:
        todo.append(f"Check what changed upstream for {', '.join(drifted[:5])}"
                    + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else "")
                    + ": a new source, a changed form or unit, or a real change in the population.")
    labelled = sum(w.labelled for w in report.windows)
    if not labelled:
        todo.append("Send ground truth back (`POST /feedback` with the prediction ids, or `cairn feedback FILE`): "
                    "without it performance is only estimated.")
    if report.drift.not_judged:
        todo.append(f"{len(report.drift.not_judged)} features were not sent in most requests and could not be "
                    "judged: send them if the callers have them.")
    if not todo:
        todo.append(f"Nothing to do: run `cairn monitor` again after the next {project.config.monitoring.window} "
                    "window.")
    return todo


def _rule_text(rule: dict[str, Any]) -> str:
    name = rule.get("rule", "rule")
    figures = ", ".join(f"{key} {value}" for key, value in rule.items()
                        if key != "rule" and isinstance(value, int | float | str) and not isinstance(value, bool))
    return f"{name} ({figures})" if figures else str(name)


def _line_time(line: bytes) -> datetime | None:
    try:
        entry = json.loads(line)
        moment = pd.Timestamp(entry["at"])
    except (ValueError, KeyError, TypeError):
        return None
    if pd.isna(moment):
        return None
    return (moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")).to_pydatetime()


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)

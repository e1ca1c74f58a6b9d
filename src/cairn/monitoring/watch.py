"""`cairn monitor`: drift against the training reference, performance where ground truth is known, and advice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.config.schema import ProjectConfig
from cairn.metrics.scoring import score, shown
from cairn.model.trained import TrainedModel
from cairn.monitoring.drift import DriftReport, window_drift
from cairn.monitoring.windows import Window, WindowMetric
from cairn.privacy import redact_text

TREND_WINDOWS = 6
"""Windows shown as the trend, newest last."""


@dataclass(frozen=True)
class MonitorReport:
    model: str
    version: int
    drift: DriftReport
    performance: dict[str, float]  # the success metrics on the new data, when it has the target
    objective_met: bool | None
    retrain: bool
    advice: str
    windows: list[Window] = field(default_factory=list)  # performance per time window, oldest first
    rules: list[dict[str, Any]] = field(default_factory=list)  # the retrain rules that fired, with their figures
    latest_missed: bool = False  # a success metric realised in the latest window missed its threshold
    webhook: str | None = None  # what became of the webhook call, when one was made
    ignored_columns: list[str] = field(default_factory=list)  # columns of --data the model does not use

    @property
    def check_failed(self) -> bool:
        """What makes `cairn monitor` exit 3: it advises retraining, or the objective is missed in the latest
        window."""
        return self.retrain or self.latest_missed

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "drift": self.drift.to_dict(),
                "performance": self.performance, "objective_met": self.objective_met, "retrain": self.retrain,
                "advice": self.advice, "rules": self.rules, "latest_missed": self.latest_missed,
                "latest_window": self.windows[-1].to_dict() if self.windows else None,
                "trend": [w.to_dict() for w in self.windows[-TREND_WINDOWS:]],
                "windows": [w.to_dict() for w in self.windows], "webhook": self.webhook,
                "ignored_columns": self.ignored_columns}


NAMES_SHOWN = 5


def _names(features: list[Any]) -> str:
    names = ", ".join(feature.feature for feature in features[:NAMES_SHOWN])
    return names + (f" and {len(features) - NAMES_SHOWN} more" if len(features) > NAMES_SHOWN else "")


def monitor_requests(records: list[dict[str, Any]], *, model: TrainedModel, baseline: Any, config: ProjectConfig,
                     windows: list[Window] | None = None) -> MonitorReport:
    """``monitor_table`` on logged requests, which are often partial records: the model imputed the inputs a
    request did not send, so each feature is judged on the requests that sent it (see ``feature_drift``)."""
    names = model.feature_names
    current = pd.DataFrame.from_records(records, columns=names)  # the model's inputs; unsent ones all missing
    sent = {name: np.fromiter((name in record for record in records), dtype=bool, count=len(records))
            for name in names}
    return monitor_table(current, model=model, baseline=baseline, config=config, sent=sent, windows=windows,
                         protected=True)  # the log keeps personal columns as the model read them


def monitor_table(current: pd.DataFrame, *, model: TrainedModel, baseline: Any, config: ProjectConfig,
                  sent: Mapping[str, np.ndarray] | None = None, windows: list[Window] | None = None,
                  protected: bool = False) -> MonitorReport:
    """Drift of ``current`` (and performance, when it has the target); ``sent`` as ``feature_drift`` takes it;
    the advice also reads the performance ``windows`` (cairn.monitoring.windows), by the rules of
    ``monitoring.retrain_when``. ``protected``: personal columns hashed or masked already (logged requests)."""
    drift = window_drift(baseline, current, model=model, sent=sent,  # read as the model reads it, from statistics
                         protected=protected)
    return judge_window(drift, current, model=model, config=config, windows=windows)


def judge_window(drift: DriftReport, labelled: pd.DataFrame | None, *, model: TrainedModel, config: ProjectConfig,
                 windows: list[Window] | None = None, columns: list[str] | None = None) -> MonitorReport:
    """The verdict on a window whose drift is measured: the success metrics on its rows that have the target
    (`labelled`: the window, or a uniform sample of it), the rules of ``monitoring.retrain_when``, the advice.
    `columns` (the window's, when it is a file) names those the model does not use: ignored, and said."""
    performance: dict[str, float] = {}
    objective_met: bool | None = None
    target = config.business.target
    if labelled is not None and target in labelled.columns and labelled[target].notna().any():
        known = labelled[labelled[target].notna()]
        truth = known[target].to_numpy()
        predicted, probabilities = model.answer(model.inputs(known))
        classes = np.array(model.classes) if model.classes else None
        proba = probabilities
        if model.problem == "binary" and classes is not None:  # of the positive class, which metrics read last
            column = classes.tolist().index(model.positive_class) if model.positive_class in classes.tolist() else 1
            proba, classes = probabilities[:, column], np.array([classes[1 - column], classes[column]])
        for criterion in config.business.success:
            performance[criterion.metric] = score(criterion.metric, truth, predicted, proba, classes=classes)
        if config.business.success:
            objective_met = all(c.is_met(performance[c.metric]) for c in config.business.success)
    reasons = []
    if drift.drifted:
        reasons.append(f"{len(drift.drifted)} of {len(drift.judged)} features drifted ({_names(drift.drifted)})")
    if objective_met is False:
        missed = [f"{c.text()} is now {shown(c.metric, performance[c.metric])}"
                  for c in config.business.success if not c.is_met(performance[c.metric])]
        reasons.append("the objective is missed: " + "; ".join(missed))
    windows = windows or []
    when = config.monitoring.retrain_when
    rules: list[dict[str, Any]] = []
    if drift.judged and drift.share_drifted >= when.drift_share:
        rules.append({"rule": "drift_share", "share": round(drift.share_drifted, 4), "limit": when.drift_share,
                      "psi_threshold": config.monitoring.drift.threshold,
                      "drifted": [f.feature for f in drift.drifted]})
    if objective_met is False and when.objective_missed:
        rules.append({"rule": "objective_missed", "performance": performance})
    if when.prediction_drift and drift.prediction_drifted:
        moved = [p for p in drift.predictions if p.drifted]
        rules.append({"rule": "prediction_drift", "psi": {p.feature: round(p.psi, 4) for p in moved},
                      "psi_threshold": config.monitoring.drift.threshold})
        reasons.append("the model's answers drifted (" + "; ".join(f"{p.feature}: {p.detail}" for p in moved) + ")")
    domain = drift.domain
    if when.domain_auc is not None and domain is not None and domain.auc >= when.domain_auc:
        rules.append({"rule": "domain_auc", "auc": round(domain.auc, 4), "limit": when.domain_auc,
                      "separating": [name for name, _ in domain.top[:5]]})
        reasons.append(f"a classifier tells the new rows from the training rows (AUC {domain.auc:.2f})")
    window_rules, window_reasons, latest_missed = _window_rules(windows, config)
    rules += window_rules
    reasons += window_reasons
    retrain = bool(rules)
    if retrain:
        advice = "Retrain: " + "; ".join(reasons) + "."
    elif reasons:
        advice = "Watch: " + "; ".join(reasons) + ", but no retrain rule fired."
    elif not drift.judged and objective_met is None:
        advice = "No verdict: no feature was sent in at least half of the requests, too few values to judge drift."
    else:
        advice = "No action: no feature drifted" + (" and the objective still holds." if objective_met else ".")
        held = [w.realised(c.metric) for c in config.business.success for w in windows[-1:]]
        if held and all(m is not None and m.met for m in held):
            advice += (" In the latest window the objective holds on ground truth: "
                       + ", ".join(m.text() for m in held if m is not None) + ".")
    if drift.not_judged:
        unjudged = drift.not_judged
        advice += (f" Not judged: {len(unjudged)} of {len(drift.features)} features were not sent in most of the "
                   f"{drift.current_rows:,} requests (the model imputed them): {_names(unjudged)}.")
    if retrain:
        advice += " Rule" + ("s" if len(rules) > 1 else "") + " fired: " + ", ".join(r["rule"] for r in rules) + "."
    known = {*model.feature_names, target, config.monitoring.time_column}
    ignored = [redact_text(str(column)) for column in columns or [] if column not in known]  # a name can be PII
    if ignored:
        shown_names = ", ".join(ignored[:NAMES_SHOWN]) + (f" and {len(ignored) - NAMES_SHOWN} more"
                                                          if len(ignored) > NAMES_SHOWN else "")
        advice += (f" Ignored: {len(ignored)} column{'s' if len(ignored) != 1 else ''} the model does not use "
                   f"({shown_names}).")
    return MonitorReport(model.name, model.version, drift, performance, objective_met, retrain, advice, windows,
                         rules, latest_missed, ignored_columns=ignored)


def _window_rules(windows: list[Window], config: ProjectConfig) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The window rules that fire, the reasons they give, and whether the latest window missed on ground truth:
    a metric missed in the last ``missed_windows`` windows that had ground truth for it (windows without are
    skipped, not counted as met); without ground truth in the latest window, its estimate missed."""
    when = config.monitoring.retrain_when
    rules: list[dict[str, Any]] = []
    reasons: list[str] = []
    latest_missed = False
    if not windows:
        return rules, reasons, latest_missed
    latest = windows[-1]
    for criterion in config.business.success:
        metric = criterion.metric
        realised: list[tuple[Window, WindowMetric]] = []
        for window in windows:
            measured = window.realised(metric)
            if measured is not None and measured.met is not None:
                realised.append((window, measured))
        if realised and realised[-1][0] is latest and realised[-1][1].met is False:
            latest_missed = True
            reasons.append(f"in the latest window ({latest.start:%Y-%m-%d}) {criterion.text()} is missed: "
                           f"{realised[-1][1].text()} on {realised[-1][1].rows:,} labelled rows")
        run = 0
        for _, measured in reversed(realised):
            if measured.met is not False:
                break
            run += 1
        if run >= when.missed_windows:
            rules.append({"rule": "missed_windows", "metric": metric, "windows": run, "limit": when.missed_windows,
                          "threshold": criterion.threshold,
                          "values": [m.value for _, m in realised[-run:]]})
            if not (latest_missed and when.missed_windows == 1):
                reasons.append(f"{criterion.text()} missed in the last {run} window{'' if run == 1 else 's'} with "
                               f"ground truth")
        estimated, measured_latest = latest.estimated(metric), latest.realised(metric)
        if (when.estimate_missed and (measured_latest is None or measured_latest.met is None)
                and estimated is not None and estimated.met is False):
            rules.append({"rule": "estimate_missed", "metric": metric, "estimate": estimated.value,
                          "threshold": criterion.threshold, "window": latest.start.isoformat()})
            reasons.append(f"without ground truth enough for a verdict in the latest window, {metric} is estimated at "
                           f"{shown(metric, estimated.value or 0.0)} (an estimate), missing {criterion.text()}")
    return rules, reasons, latest_missed

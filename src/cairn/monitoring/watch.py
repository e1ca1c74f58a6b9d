"""`cairn monitor`: drift against the training reference, performance where ground truth is known, and advice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.config.schema import ProjectConfig
from cairn.metrics.scoring import score, shown
from cairn.model.trained import TrainedModel
from cairn.monitoring.drift import DriftReport, feature_drift


@dataclass(frozen=True)
class MonitorReport:
    model: str
    version: int
    drift: DriftReport
    performance: dict[str, float]  # the success metrics on the new data, when it has the target
    objective_met: bool | None
    retrain: bool
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "drift": self.drift.to_dict(),
                "performance": self.performance, "objective_met": self.objective_met, "retrain": self.retrain,
                "advice": self.advice}


NAMES_SHOWN = 5


def _names(features: list[Any]) -> str:
    names = ", ".join(feature.feature for feature in features[:NAMES_SHOWN])
    return names + (f" and {len(features) - NAMES_SHOWN} more" if len(features) > NAMES_SHOWN else "")


def monitor_requests(records: list[dict[str, Any]], *, model: TrainedModel, baseline: Any, config: ProjectConfig
                     ) -> MonitorReport:
    """``monitor_table`` on logged requests, which are often partial records: the model imputed the inputs a
    request did not send, so each feature is judged on the requests that sent it (see ``feature_drift``)."""
    names = model.feature_names
    current = pd.DataFrame.from_records(records, columns=names)  # the model's inputs; unsent ones all missing
    sent = {name: np.fromiter((name in record for record in records), dtype=bool, count=len(records))
            for name in names}
    return monitor_table(current, model=model, baseline=baseline, config=config, sent=sent)


def monitor_table(current: pd.DataFrame, *, model: TrainedModel, baseline: Any, config: ProjectConfig,
                  sent: Mapping[str, np.ndarray] | None = None) -> MonitorReport:
    """Drift of ``current`` (and performance, when it has the target); ``sent`` as ``feature_drift`` takes it."""
    drift = feature_drift(baseline.reference, model.protected(current), features=model.features,
                          threshold=baseline.threshold, bins=baseline.bins, sent=sent)
    performance: dict[str, float] = {}
    objective_met: bool | None = None
    target = config.business.target
    if target in current.columns and current[target].notna().any():
        known = current[current[target].notna()]
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
    retrain = objective_met is False or drift.share_drifted >= 0.2
    if retrain:
        advice = "Retrain: " + "; ".join(reasons) + "."
    elif reasons:
        advice = "Watch: " + "; ".join(reasons) + ", but the model still holds."
    elif not drift.judged and objective_met is None:
        advice = "No verdict: no feature was sent in at least half of the requests, too few values to judge drift."
    else:
        advice = "No action: no feature drifted" + (" and the objective still holds." if objective_met else ".")
    if drift.not_judged:
        unjudged = drift.not_judged
        advice += (f" Not judged: {len(unjudged)} of {len(drift.features)} features were not sent in most of the "
                   f"{drift.current_rows:,} requests (the model imputed them): {_names(unjudged)}.")
    return MonitorReport(model.name, model.version, drift, performance, objective_met, retrain, advice)

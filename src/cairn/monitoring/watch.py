"""`cairn monitor`: drift against the training reference, performance where ground truth is known, and advice."""

from __future__ import annotations

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


def monitor_table(current: pd.DataFrame, *, model: TrainedModel, baseline: Any, config: ProjectConfig
                  ) -> MonitorReport:
    drift = feature_drift(baseline.reference, model.protected(current), features=model.features,
                          threshold=baseline.threshold, bins=baseline.bins)
    performance: dict[str, float] = {}
    objective_met: bool | None = None
    target = config.business.target
    if target in current.columns and current[target].notna().any():
        known = current[current[target].notna()]
        truth = known[target].to_numpy()
        predicted, probabilities = model.answer(model.inputs(known))
        proba = probabilities[:, 1] if model.problem == "binary" else probabilities
        classes = np.array(model.classes) if model.classes else None
        for criterion in config.business.success:
            performance[criterion.metric] = score(criterion.metric, truth, predicted, proba, classes=classes)
        if config.business.success:
            objective_met = all(c.is_met(performance[c.metric]) for c in config.business.success)
    reasons = []
    if drift.drifted:
        names = ", ".join(f.feature for f in drift.drifted[:5])
        reasons.append(f"{len(drift.drifted)} of {len(drift.features)} features drifted ({names})")
    if objective_met is False:
        missed = [f"{c.text()} is now {shown(c.metric, performance[c.metric])}"
                  for c in config.business.success if not c.is_met(performance[c.metric])]
        reasons.append("the objective is missed: " + "; ".join(missed))
    retrain = objective_met is False or drift.share_drifted >= 0.2
    if retrain:
        advice = "Retrain: " + "; ".join(reasons) + "."
    elif reasons:
        advice = "Watch: " + "; ".join(reasons) + ", but the model still holds."
    else:
        advice = "No action: no feature drifted" + (" and the objective still holds." if objective_met else ".")
    return MonitorReport(model.name, model.version, drift, performance, objective_met, retrain, advice)

"""Stage 10, monitoring: keep the reference that later data is compared with, and say what to do when it drifts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cairn.config.schema import Monitoring
from cairn.model.trained import FeatureSpec, as_model_frame


@dataclass(frozen=True)
class MonitoringBaseline:
    reference: pd.DataFrame  # training rows, model columns, sampled to reference_rows
    features: list[FeatureSpec]
    threshold: float
    bins: int

    def notes(self) -> list[str]:
        return [f"kept {len(self.reference):,} training rows as the drift reference",
                f"drift alert at PSI >= {self.threshold:g}; check with `cairn monitor --data NEW.csv`"]


def monitoring_baseline(training_rows: pd.DataFrame, *, features: list[FeatureSpec], spec: Monitoring,
                        seed: int) -> MonitoringBaseline:
    reference = as_model_frame(training_rows, features)
    if len(reference) > spec.reference_rows:
        reference = reference.sample(spec.reference_rows, random_state=seed)
    return MonitoringBaseline(reference.reset_index(drop=True), features, spec.drift.threshold, spec.drift.bins)

"""Stage 10, monitoring: keep what later data is compared with, and say what to do when it drifts.

The baseline holds reference statistics of every training row (bins, level counts, quantile sketches: see
cairn.monitoring.reference), computed once here, and a sample of at most 5,000 training rows, model inputs only
(personal columns as the model reads them), for the domain classifier and the reference predictions. A check never
rereads the training data. Baselines saved before the statistics hold up to ``reference_rows`` training rows in
``reference`` and no statistics: cairn.monitoring.drift.statistics_of builds them from those rows on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from cairn.config.schema import Monitoring
from cairn.model.trained import FeatureSpec, as_model_frame
from cairn.monitoring.reference import SAMPLE_ROWS, reference_statistics


@dataclass(frozen=True)
class MonitoringBaseline:
    reference: pd.DataFrame  # training rows, model columns: a sample of at most 5,000 (older baselines: up to
    # reference_rows, and no statistics)
    features: list[FeatureSpec]
    threshold: float
    bins: int
    statistics: Any = None  # cairn.monitoring.reference.ReferenceStatistics of all training rows (None: older)
    # the references of the model's numeric outputs (the prediction, a class's probability: see
    # cairn.monitoring.drift.baseline_predictions), from the judged model's answers on holdout rows it never saw;
    # None (older baselines, no holdout): from the served model's answers on the sample, rows it learned, where an
    # overfit model is surer than it will ever be on new rows
    predictions: Any = None
    holdout_rows: int = 0

    def notes(self) -> list[str]:
        statistics = getattr(self, "statistics", None)
        kept = (f"kept drift statistics of {statistics.rows:,} training rows and a sample of {len(self.reference):,}"
                if statistics is not None else f"kept {len(self.reference):,} training rows as the drift reference")
        notes = [kept, f"drift alert at PSI >= {self.threshold:g}; check with `cairn monitor --data NEW.csv`"]
        if self.predictions is not None:
            notes.append(f"the drift of the model's numeric answers is measured against its answers on the "
                         f"{self.holdout_rows:,} holdout rows it was judged on, which it never learned")
        return notes


def monitoring_baseline(training_rows: pd.DataFrame, *, features: list[FeatureSpec], spec: Monitoring,
                        seed: int, normalize: bool = True, judged: tuple[Any, pd.DataFrame] | None = None
                        ) -> MonitoringBaseline:
    """``normalize``: preprocessing.normalize_categories, so levels are keyed as the model's encoder keys them.
    ``judged``: the model the holdout judged (fitted without the holdout) and the holdout rows, whose answers are
    the reference of the served model's outputs on new rows."""
    # the rows as cleaned, not yet parsed: the window is parsed by the same code (cairn.model.inputs), once.
    # Categories stay categories for the statistics (counted from their codes, not from a million-row object array
    # per column); the kept sample holds them as Python objects, as baselines always have.
    categories = [f.name for f in features if f.name in training_rows
                  and isinstance(training_rows[f.name].dtype, pd.CategoricalDtype)]
    reference = pd.DataFrame({feature.name: training_rows[feature.name].reset_index(drop=True)
                              if feature.name in categories
                              else training_rows[feature.name].to_numpy() if feature.name in training_rows
                              else as_model_frame(training_rows.iloc[:, :0], [feature])[feature.name].to_numpy()
                              for feature in features})
    statistics = reference_statistics(reference, features, bins=spec.drift.bins, normalize=normalize,
                                      sample_rows=min(SAMPLE_ROWS, spec.reference_rows), seed=seed)
    if categories:
        sample = statistics.sample  # rebuilt from arrays as before, so pandas infers the same dtypes it did then
        statistics = replace(statistics, sample=pd.DataFrame(
            {name: sample[name].to_numpy() if name in categories else sample[name] for name in sample.columns}))
    predictions, holdout_rows = None, 0
    if judged is not None and len(judged[1]):
        from cairn.monitoring.drift import PREDICTION_ROWS, prediction_reference

        model, holdout = judged
        if len(holdout) > PREDICTION_ROWS:  # as a window: the PSI of 200,000 answers is that of all of them
            holdout = holdout.sample(n=PREDICTION_ROWS, random_state=seed)
        predictions = [(output, reference) for output, reference in
                       prediction_reference(model, holdout, bins=spec.drift.bins) if output.kind == "number"]
        holdout_rows = len(holdout)
    return MonitoringBaseline(statistics.sample, features, spec.drift.threshold, spec.drift.bins,
                              statistics=statistics, predictions=predictions, holdout_rows=holdout_rows)

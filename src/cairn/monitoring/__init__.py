"""Watching a served model: has the input data drifted from the training data?"""

from cairn.monitoring.drift import DriftReport, FeatureDrift, feature_drift, population_stability_index

__all__ = ["DriftReport", "FeatureDrift", "feature_drift", "population_stability_index"]

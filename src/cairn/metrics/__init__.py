"""Metrics: the catalogue (one record per metric), scoring, and scores over many resamples at once.

The catalogue is imported eagerly (it is light); scoring needs scikit-learn, so import it from
`cairn.metrics.scoring` where it is used.
"""

from cairn.metrics.catalogue import (
    CATALOGUE,
    DEFAULT_METRIC,
    METRIC_NAMES,
    Metric,
    error_of,
    is_percent,
    label,
    lower_is_better,
    metric,
    metrics_for,
    metrics_of,
    needs_proba,
)

__all__ = ["CATALOGUE", "DEFAULT_METRIC", "METRIC_NAMES", "Metric", "error_of", "is_percent", "label",
           "lower_is_better", "metric", "metrics_for", "metrics_of", "needs_proba"]

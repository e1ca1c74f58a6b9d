"""Performance without ground truth: an estimate, always marked as one.

Classifiers (confidence-based, as NannyML's CBPE): if the model's probabilities are calibrated, the true labels
of a window are draws from them. Labels are drawn ``LABEL_DRAWS`` times, each draw scored against the model's own
answers, and the mean is the expected metric: accuracy, precision, recall, F1, AUC alike.

Regression (direct loss estimation, as NannyML's DLE): a LightGBM model of the absolute error, fitted on the
holdout of the run that trained the model (its inputs and its prediction -> |error|), with the predictions of
the pipeline fitted before the holdout was used (so the errors are out of sample, also when deployment refits on
all rows). The estimated MAPE is the mean of estimated |error| / |prediction|; MAE the mean estimated |error|;
RMSE the root of the mean squared estimated |error| (a lower bound, said so in the report).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.estimators.encoder import known_spelling
from cairn.metrics.scoring import score

__all__ = ["ESTIMABLE_REGRESSION", "ErrorModel", "expected_classification_metrics", "fit_error_model"]

log = logging.getLogger(__name__)

LABEL_DRAWS = 50
"""Label draws per window for a classifier's expected metric: the estimate's own noise is about 1/sqrt(50) of
the metric's spread over draws, well under the window's sampling error."""

ESTIMABLE_REGRESSION = ("mape", "mae", "rmse")


def expected_classification_metrics(metrics: list[str], *, predicted: np.ndarray, probabilities: np.ndarray,
                                    classes: np.ndarray, positive: Any, seed: int) -> dict[str, float]:
    """Each metric's expectation when the true labels are drawn from ``probabilities`` (rows: the class
    probabilities in the order of ``classes``)."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative[:, -1] = 1.0
    binary = len(classes) == 2
    if binary:
        column = classes.tolist().index(positive) if positive in classes.tolist() else 1
        ordered = np.array([classes[1 - column], classes[column]])
        proba = probabilities[:, column]
    else:
        ordered, proba = classes, probabilities
    draws: dict[str, list[float]] = {metric: [] for metric in metrics}
    for _ in range(LABEL_DRAWS):
        picks = (rng.random(len(predicted))[:, None] > cumulative).sum(axis=1)
        labels = classes[np.minimum(picks, len(classes) - 1)]
        for metric in metrics:
            try:
                value = score(metric, labels, predicted, proba, classes=ordered)
            except ValueError:  # AUC of a draw with one class
                continue
            if np.isfinite(value):
                draws[metric].append(value)
    return {metric: float(np.mean(values)) for metric, values in draws.items() if values}


@dataclass
class ErrorModel:
    """The absolute error of a regression model, predicted from its inputs and its prediction (pickled with the
    store's monitoring artifacts; ``fitted_rows`` and ``holdout_mape`` say what it learnt from)."""

    regressor: Any
    columns: list[str]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    fitted_rows: int = 0
    holdout_mape: float = float("nan")

    def frame(self, inputs: pd.DataFrame, prediction: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame({name: inputs[name].to_numpy() for name in self.columns if name in inputs.columns},
                             index=range(len(inputs)))
        for name in self.columns:
            if name not in table.columns:
                table[name] = np.nan
        for name, levels in self.categories.items():
            known = frozenset(levels)  # a whole number logged as 98117.0 is the level 98117 (known_spelling)
            table[name] = pd.Categorical(table[name].map(lambda v, known=known: None if pd.isna(v)
                                                         else known_spelling(str(v), known)), categories=levels)
        table["__prediction__"] = np.asarray(prediction, dtype="float64")
        return table[[*self.columns, "__prediction__"]]

    def absolute_errors(self, inputs: pd.DataFrame, prediction: np.ndarray) -> np.ndarray:
        estimated = np.asarray(self.regressor.predict(self.frame(inputs, prediction)), dtype="float64")
        clipped: np.ndarray = np.maximum(estimated, 0.0)  # an error is never negative
        return clipped

    def metrics(self, inputs: pd.DataFrame, prediction: np.ndarray) -> dict[str, float]:
        errors = self.absolute_errors(inputs, prediction)
        prediction = np.asarray(prediction, dtype="float64")
        return {"mape": float(np.mean(errors / np.maximum(np.abs(prediction), 1e-12))),
                "mae": float(np.mean(errors)), "rmse": float(np.sqrt(np.mean(errors**2)))}


def fit_error_model(inputs: pd.DataFrame, prediction: np.ndarray, truth: np.ndarray, *, seed: int) -> ErrorModel:
    """LightGBM (one thread, small and regularised: a holdout has hundreds of rows) on the inputs and the
    prediction, to the absolute error."""
    from lightgbm import LGBMRegressor

    regressor = LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1, verbose=-1,
                              random_state=seed)
    columns = [str(name) for name in inputs.columns]
    categories = {name: sorted({str(v) for v in inputs[name].dropna().unique()}) for name in columns
                  if not pd.api.types.is_numeric_dtype(inputs[name])}
    model = ErrorModel(regressor, columns, categories, fitted_rows=len(inputs))
    frame = model.frame(inputs, prediction)
    errors = np.abs(np.asarray(truth, dtype="float64") - np.asarray(prediction, dtype="float64"))
    regressor.fit(frame, errors)
    model.holdout_mape = float(np.mean(errors / np.maximum(np.abs(np.asarray(truth, dtype="float64")), 1e-12)))
    return model

"""Why a model gave an answer: each input's contribution (SHAP values), adding up to the answer exactly.

    base value + sum of contributions == prediction, on the explained scale

Which numbers, and why:

* Exact where the family has them: the boosters' own TreeSHAP (LightGBM, XGBoost, CatBoost), the `shap` package's
  TreeExplainer for scikit-learn's forests and histogram boosting (the `explain` extra), weights times values for
  linear models (the reference is the all-zero encoding: numbers at their training means, no category level).
  kNN has none: its contributions are sampled Shapley values, additive by construction (cairn.explain.sampled).
* Scale: a regression model explains its prediction in target units; one fitted on log1p(target) explains on the
  log scale, and says so (`scale` is "log1p(<target>)", `value` the prediction in target units). A classifier
  explains its raw margin, the log-odds of the positive class (softmax logits per class for more than two), with
  the probability beside it; forests and kNN average probabilities, so they explain probabilities directly.
* Blends average their members' answers, so each member is first put in the blend's units and then added by
  weight: regression blends average target units, so a log-target member's contributions are rescaled in
  proportion to add up to expm1(base + sum) - expm1(base); classifier blends average probabilities, so members'
  margins are rescaled the same way to add up to the probability minus the base probability (softmax margins are
  centred first, as softmax reads them relative to each other). The sum stays exact; the share of each input
  within a member keeps its proportion. `note` says when this was done.
* Inputs: encoded columns are summed back to the user's input columns; a derived feature's share is split equally
  among the inputs its expression reads, and a level's slope on a number (sparse_linear) between the category and
  the number (cairn.explain.sources).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy.special import expit, softmax

from cairn.explain.result import Explanation, Explanations
from cairn.explain.walk import Explained, explain_estimator

if TYPE_CHECKING:
    import pandas as pd


class Model(Protocol):
    """What is explained: a cairn.model.trained.TrainedModel (not imported: it imports this package on use)."""

    @property
    def problem(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def pipeline(self) -> Any: ...

    @property
    def feature_names(self) -> list[str]: ...

    def inputs(self, records: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame | dict[str, np.ndarray]: ...

    def answer(self, inputs: pd.DataFrame | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]: ...


__all__ = ["Explanation", "Explanations", "explain", "explain_inputs"]


def explain(model: Model, records: list[dict[str, Any]] | pd.DataFrame) -> Explanations:
    """Contributions for each record, through the same input path as `model.predict` (personal columns
    protected as in training)."""
    return explain_inputs(model, model.inputs(records))


def explain_inputs(model: Model, inputs: pd.DataFrame | dict[str, np.ndarray]) -> Explanations:
    """Contributions for inputs already prepared for the pipeline (`TrainedModel.inputs`, or the service's
    validated columns): the explanation of exactly what was predicted."""
    import pandas as pd

    classifier = model.problem != "regression"
    explained = explain_estimator(model.pipeline, inputs, inputs=model.feature_names, classifier=classifier)
    frame = ({name: inputs[name].to_numpy() for name in inputs.columns} if isinstance(inputs, pd.DataFrame)
             else inputs)  # a DataFrame per request would cost milliseconds
    if not classifier:
        return _regression(explained, model, frame)
    # the label /predict answers, beside the class explained: a binary model explains its positive class's
    # probability, whichever class it answers
    return replace(_classification(explained, model, frame), answers=model.answer(inputs)[0])


def _regression(explained: Explained, model: Model, frame: Any) -> Explanations:
    predictions = explained.predictions
    notes = list(explained.notes)
    if explained.scale == "log_target":
        scale, values = f"log1p({model.target})", np.expm1(predictions)
        notes.insert(0, f"explained on the log scale: the model predicts log1p({model.target}); "
                        f"value is expm1 of the prediction, in {model.target}")
    else:
        scale, values = model.target, predictions
    return Explanations(model.feature_names, explained.base, explained.values, [scale], values, [None],
                        np.zeros(len(predictions), dtype=int), frame, "; ".join(notes))


def _classification(explained: Explained, model: Model, frame: Any) -> Explanations:
    labels = list(explained.labels or [])
    base, values = explained.base, explained.values
    notes = "; ".join(explained.notes)
    if model.problem == "binary":
        positive = getattr(model, "positive_class", None)
        if explained.scale == "margin":  # one output: the log-odds of the second class
            labels = labels[-1:]
            if positive is not None and positive != labels[0]:
                base, values, labels = -base, -values, [positive]
            summed = base + values.sum(axis=1)
            probability, notes = _calibrated(model, expit(summed), notes)
            return Explanations(model.feature_names, base, values, [f"log-odds of {labels[0]}"], probability,
                                labels, np.zeros(len(base), dtype=int), frame, notes)
        column = labels.index(positive) if positive in labels else len(labels) - 1
        base, values = base[:, [column]], values[:, :, [column]]
        summed = base + values.sum(axis=1)
        probability, notes = _calibrated(model, summed, notes)
        return Explanations(model.feature_names, base, values, [_uncalibrated(model, labels[column])], probability,
                            [labels[column]], np.zeros(len(base), dtype=int), frame, notes)
    summed = base + values.sum(axis=1)
    if explained.scale == "margin":
        scales, probabilities = [f"softmax logit of {label}" for label in labels], softmax(summed, axis=1)
    else:
        scales, probabilities = [_uncalibrated(model, label) for label in labels], summed
    probabilities, notes = _calibrated(model, probabilities, notes)
    return Explanations(model.feature_names, base, values, scales, probabilities, labels,
                        np.argmax(probabilities, axis=1), frame, notes)


def _uncalibrated(model: Model, label: Any) -> str:
    """The scale the contributions add up to when they are probabilities: named uncalibrated when the model
    calibrates its answer, so it is not read as the probability /predict gives (`_calibrated`)."""
    return f"{'uncalibrated ' if getattr(model, 'calibration', None) is not None else ''}probability of {label}"


def _calibrated(model: Model, probability: np.ndarray, notes: str) -> tuple[np.ndarray, str]:
    """The positive class's probability (binary) or every class's (multiclass, tempered) as the model answers
    it: through its calibration when it has one (fitted out of fold in training, outside the pipeline). The
    contributions stay those of the pipeline's own output, and the note says that the probability is the
    calibrated one, as /predict gives it."""
    calibration = getattr(model, "calibration", None)
    if calibration is None:
        return probability, notes
    said = (f"the probability is calibrated ({calibration.method}) as /predict answers it; the contributions "
            "add up to the uncalibrated output")
    mapped = (calibration.probabilities(probability) if calibration.method == "temperature"
              else calibration.positive(probability))
    return mapped, "; ".join(part for part in (notes, said) if part)

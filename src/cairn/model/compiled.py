"""A fitted model's answer for one request without scikit-learn's per-call checks.

With scikit-learn 1.9 and pandas 3 every `predict` through a Pipeline, a TransformedTargetRegressor and LightGBM's
or scikit-learn's estimator wrappers validates its input again (tags, fitted checks, data-frame sniffing): about
1.5 ms of a 2 ms one-row answer for the Ames blend. The model was checked when it was fitted and each request when
it arrived, so serving walks the fitted objects cairn builds itself: its encoder, the booster or the linear
weights, the inverse target transform, the blend weights. Any other estimator answers through its own `predict`.

`compile_model` turns a fitted estimator into one function from inputs to class probabilities (classification)
or predictions (regression); `label_of` turns probabilities into labels. A classifier's label is its most probable
class, as every classifier cairn trains decides it (tested against each one's own `predict`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit, softmax
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._base import LinearModel
from sklearn.pipeline import Pipeline

Answer = Callable[[Any], np.ndarray]  # inputs -> predictions (regression) or class probabilities


def compile_model(estimator: Any, *, classes: np.ndarray | None = None) -> Answer:
    """`estimator`'s predictions (regression, `classes` None) or probabilities of `classes`, in order."""
    if classes is None:
        return _regression(estimator)
    return _probabilities(estimator, np.asarray(classes))


def label_of(probabilities: np.ndarray, classes: np.ndarray, *, threshold: float | None = None,
             positive: Any = None) -> np.ndarray:
    """The most probable class; binary with a `threshold`: the positive class (by default the last) when its
    probability reaches the threshold, else the other one."""
    classes = np.asarray(classes)
    if threshold is None or len(classes) != 2:
        labels: np.ndarray = classes[np.argmax(probabilities, axis=1)]
        return labels
    column = classes.tolist().index(positive) if positive is not None and positive in classes.tolist() else 1
    chosen: np.ndarray = np.where(probabilities[:, column] >= threshold, classes[column], classes[1 - column])
    return chosen


def _regression(estimator: Any) -> Answer:
    from cairn.estimators.blends import EnsembleRegressor

    if isinstance(estimator, TransformedTargetRegressor) and _inverse_is_elementwise(estimator):
        inner, inverse = _regression(estimator.regressor_), estimator.inverse_func
        return lambda X: inverse(inner(X))
    if isinstance(estimator, Pipeline):
        return _through_steps(estimator, _regression, whole=estimator.predict)
    if isinstance(estimator, EnsembleRegressor):
        members = [(weight, _regression(member)) for weight, member in zip(estimator.weights_,
                                                                          estimator.estimators_, strict=True)]
        return lambda X: sum(w * np.asarray(member(X), dtype="float64") for w, member in members)
    if _is_lightgbm(estimator):
        booster, threads = estimator.booster_, _threads(estimator)
        return _on_arrays(lambda X: booster.predict(X, num_threads=threads), estimator.predict)
    if type(estimator).__module__.startswith("sklearn.linear_model") and isinstance(estimator, LinearModel):
        coef, intercept = estimator.coef_, estimator.intercept_
        if coef.ndim == 1:
            return _on_arrays(lambda X: X @ coef + intercept, estimator.predict)
    method: Answer = estimator.predict
    return method


def _probabilities(estimator: Any, classes: np.ndarray) -> Answer:
    """Columns in the order of `classes`, which must be the estimator's own `classes_` (checked)."""
    from cairn.estimators.blends import EnsembleClassifier
    from cairn.estimators.labels import EncodedLabels

    if isinstance(estimator, Pipeline):
        return _through_steps(estimator, lambda final: _probabilities(final, classes), whole=estimator.predict_proba)
    own = np.asarray(getattr(estimator, "classes_", classes))
    if len(own) != len(classes) or not np.array_equal(own, classes):
        fewer: Answer = estimator.predict_proba  # a member that saw fewer classes: the blend aligns it
        return fewer
    if isinstance(estimator, EnsembleClassifier):
        from cairn.estimators.blends import aligned_proba

        members = [(weight, member.classes_, _probabilities(member, np.asarray(member.classes_)))
                   for weight, member in zip(estimator.weights_, estimator.estimators_, strict=True)]
        return lambda X: sum(w * aligned_proba(np.asarray(member(X), dtype="float64"), labels, classes)
                             for w, labels, member in members)
    if isinstance(estimator, EncodedLabels):
        return _probabilities(estimator.estimator_, np.arange(len(classes)))
    if _is_lightgbm(estimator):
        booster, threads = estimator.booster_, _threads(estimator)
        if len(classes) > 2:
            return _on_arrays(lambda X: booster.predict(X, num_threads=threads), estimator.predict_proba)
        return _on_arrays(lambda X: _two_columns(booster.predict(X, num_threads=threads)),
                          estimator.predict_proba)
    if type(estimator) is LogisticRegression:
        coef, intercept = estimator.coef_, estimator.intercept_
        if len(classes) == 2:
            return _on_arrays(lambda X: _two_columns(expit(X @ coef[0] + intercept[0])),
                              estimator.predict_proba)
        if _multinomial(estimator):
            return _on_arrays(lambda X: softmax(X @ coef.T + intercept, axis=1), estimator.predict_proba)
    method: Answer = estimator.predict_proba
    return method


def _on_arrays(direct: Answer, own: Answer) -> Answer:
    """`direct` for the float matrices cairn's encoder hands on, dense or CSR (every level one-hot: `sparse_linear`);
    anything else (a DataFrame given to a bare estimator, say) goes through the estimator's own checks and
    conversions."""
    return lambda X: (direct(X) if isinstance(X, np.ndarray | sparse.csr_matrix) and X.dtype == np.float64
                      else own(X))


def _two_columns(positive: np.ndarray) -> np.ndarray:
    return np.vstack((1.0 - positive, positive)).transpose()


def _through_steps(pipeline: Pipeline, final: Callable[[Any], Answer], *, whole: Answer) -> Answer:
    """cairn's own steps transform without re-checking; a pipeline with any other step answers by itself."""
    from cairn.estimators.encoder import DerivedColumns, TabularEncoder

    transforms = []
    for _, step in pipeline.steps[:-1]:
        if isinstance(step, TabularEncoder | DerivedColumns):
            transforms.append(step.transform_fitted)
        elif step is None or step == "passthrough":
            continue
        else:
            return whole
    model = final(pipeline.steps[-1][1])

    def answer(X: Any) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return model(X)

    return answer


def _multinomial(estimator: LogisticRegression) -> bool:
    """Softmax over classes; scikit-learn before 1.8 could still fit one-vs-rest (liblinear, multi_class='ovr')."""
    return getattr(estimator, "multi_class", "auto") != "ovr" and estimator.solver != "liblinear"


def _inverse_is_elementwise(estimator: TransformedTargetRegressor) -> bool:
    """cairn builds target transforms from func/inverse_func pairs of elementwise functions (log1p/expm1)."""
    return estimator.transformer is None and estimator.inverse_func is not None


def _is_lightgbm(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("lightgbm.") and not callable(getattr(estimator, "objective", None))


def _threads(estimator: Any) -> int:
    """The thread count cairn gave the model; LightGBM's own default would take every core."""
    threads = getattr(estimator, "n_jobs", None)
    return threads if isinstance(threads, int) and threads > 0 else 1

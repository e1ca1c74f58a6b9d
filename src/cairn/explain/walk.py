"""Walks a fitted model the way cairn builds it and gathers contributions on the user's inputs.

target transform (log1p) -> blend of members -> pipeline (derive -> encode -> model): the same structure that
`cairn.model.compiled` walks for the fast predict path. Each pipeline's encoded contributions are summed back to
its inputs (cairn.explain.sources); a blend adds its members' contributions by weight, once each member speaks in
the blend's units (target units for regression, probabilities for classes: see cairn.explain).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.special import expit, softmax
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from cairn.explain.families import Contributions, model_contributions
from cairn.explain.sampled import background_rows, sampled_contributions
from cairn.explain.sources import Source, derived_inputs, encoded_sources, pipeline_parts, source_matrix

Scale = Literal["target", "log_target", "margin", "probability"]
FLAT = 1e-12  # a total change this small is rescaled by the slope instead of the ratio
_LAYOUTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # per fitted pipeline
# Sparse encoded rows (every level one-hot) are explained a block at a time, dense: at most this many rows, fewer
# when they are wide (levels' slopes: 90,000 columns), so a block holds at most DENSE_VALUES values (16 MB).
DENSE_ROWS = 256
DENSE_VALUES = 2_000_000


@dataclass(frozen=True)
class Explained:
    """`base` (rows, outputs) + `values` (rows, inputs, outputs) summed over inputs, on `scale`. `labels` are a
    classifier's classes, one per output, except for a two-class margin: one output, the last class's log-odds."""

    base: np.ndarray
    values: np.ndarray
    scale: Scale
    labels: list[Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def predictions(self) -> np.ndarray:
        summed: np.ndarray = self.base + self.values.sum(axis=1)
        return summed


def explain_estimator(estimator: Any, data: Any, *, inputs: list[str], classifier: bool) -> Explained:
    """Contributions of `estimator` (fitted by cairn) on `data`, the pipeline's input (see TrainedModel.inputs)."""
    from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor, blended_models

    if isinstance(estimator, TransformedTargetRegressor):
        from cairn.estimators.target_transforms import expm1_target

        if estimator.inverse_func is not expm1_target:
            raise TypeError(f"cannot explain a target transformed by {estimator.inverse_func!r}")
        inner = explain_estimator(estimator.regressor_, data, inputs=inputs, classifier=False)
        return Explained(inner.base, inner.values, "log_target", None, inner.notes)
    if isinstance(estimator, EnsembleRegressor):
        members = [in_target_units(explain_estimator(member, data, inputs=inputs, classifier=False))
                   for member in estimator.estimators_]
        return _weighted(members, estimator.weights_, scale="target", labels=None,
                         models=blended_models([name for name, _ in estimator.estimators or []]))
    if isinstance(estimator, EnsembleClassifier):
        classes = list(estimator.classes_)
        members = [in_probabilities(explain_estimator(member, data, inputs=inputs, classifier=True), classes)
                   for member in estimator.estimators_]
        return _weighted(members, estimator.weights_, scale="probability", labels=classes,
                         models=blended_models([name for name, _ in estimator.estimators or []]))
    if isinstance(estimator, Pipeline):
        return _pipeline(estimator, data, inputs=inputs, classifier=classifier)
    raise TypeError(f"cannot explain a {type(estimator).__name__}: cairn explains the models it builds")


def _pipeline(pipeline: Pipeline, data: Any, *, inputs: list[str], classifier: bool) -> Explained:
    deriver, encoder, model = pipeline_parts(pipeline)
    encoded = data
    for _, step in pipeline.steps[:-1]:
        if step is not None and step != "passthrough":
            encoded = step.transform_fitted(encoded)
    layout = _layout(pipeline, encoder, deriver, inputs)
    labels = list(pipeline.classes_) if classifier else None
    if sparse.issparse(encoded):  # many rows one-hot on every level (sparse_linear): a few hundred dense at a
        # time, as rows x levels x outputs contributions of tens of thousands of levels would be gigabytes
        rows = max(1, min(DENSE_ROWS, DENSE_VALUES // max(encoded.shape[1], 1)))
        blocks: Iterable[np.ndarray] = (encoded[start:start + rows].toarray()
                                        for start in range(0, encoded.shape[0], rows))  # one dense at a time
    else:
        blocks = [np.asarray(encoded, dtype="float64")]
    bases, values, found = [], [], None
    for block in blocks:  # keep each block's sums by input, not its per-column contributions
        found, by_input = _by_input(model, block, layout, inputs, classifier=classifier)
        bases.append(found.base)
        values.append(by_input)
    assert found is not None  # a pipeline explains one row or more
    notes = tuple(note for note in (found.note, *layout.notes) if note)
    return Explained(np.concatenate(bases), np.concatenate(values), found.space, labels, notes)


@dataclass(frozen=True)
class _Layout:
    """Each encoded column's source, the derived features' inputs, the (encoded x inputs) matrix and the notes on
    the splits they make."""

    sources: list[Source]
    derived: dict[str, tuple[str, ...]]
    to_inputs: np.ndarray
    notes: tuple[str, ...]


def _by_input(model: Any, X: np.ndarray, layout: _Layout, inputs: list[str], *, classifier: bool
              ) -> tuple[Contributions, np.ndarray]:
    """The model's contributions on encoded rows `X`, and the same summed by input (rows x inputs x outputs)."""
    found = model_contributions(model, X, classifier=classifier)
    if found is not None:
        return found, np.einsum("nmk,mp->npk", found.values, layout.to_inputs)
    found, distinct = _sampled(model, X, layout.sources, classifier=classifier)
    return found, np.einsum("nsk,sp->npk", found.values, source_matrix(distinct, inputs, layout.derived))


def _layout(pipeline: Pipeline, encoder: Any, deriver: Any, inputs: list[str]) -> _Layout:
    """Worked out once per fitted pipeline, as a request's explanation must take milliseconds (a slope note alone
    reads every one of 90,000 columns' sources)."""
    key = (tuple(inputs), id(encoder.codes_), id(deriver))  # a refit encoder learns new codes
    cached = _LAYOUTS.get(pipeline)
    if cached is None or cached[0] != key:
        sources, derived = encoded_sources(encoder), derived_inputs(deriver)
        notes = (_derived_note(derived), _slopes_note(sources))
        cached = _LAYOUTS[pipeline] = (key, _Layout(sources, derived, source_matrix(sources, inputs, derived), notes))
    layout: _Layout = cached[1]
    return layout


def _sampled(model: Any, X: np.ndarray, sources: list[Source], *, classifier: bool
             ) -> tuple[Contributions, list[Source]]:
    training = getattr(model, "_fit_X", None)
    if training is None:
        raise TypeError(f"cannot explain a {type(model).__name__}: it keeps no training rows to sample from")
    distinct = list(dict.fromkeys(sources))
    groups = [np.array([column for column, source in enumerate(sources) if source == name]) for name in distinct]
    answer = model.predict_proba if classifier else model.predict
    found = sampled_contributions(answer, X, groups, background_rows(np.asarray(training)),
                                  space="probability" if classifier else "target")
    return found, distinct


def _slopes_note(sources: list[Source]) -> str:
    """Names the levels' slopes (see TabularEncoder.slopes) whose contributions are split between two inputs."""
    pairs = [" x ".join(source) for source in dict.fromkeys(s for s in sources if not isinstance(s, str))]
    if not pairs:
        return ""
    return "each level's slope on a number split equally between the category and the number: " + ", ".join(pairs)


def _derived_note(derived: dict[str, tuple[str, ...]]) -> str:
    shared = [f"{name} ({' + '.join(columns)})" for name, columns in derived.items() if len(columns) > 1]
    if not shared:
        return ""
    return "derived features split equally among the inputs they read: " + ", ".join(shared)


def in_target_units(explained: Explained) -> Explained:
    """A log-target member in target units: its contributions scaled in proportion so that they add up to
    expm1(base + sum) - expm1(base); the base becomes expm1(base)."""
    if explained.scale != "log_target":
        return explained
    base = explained.base
    total = explained.values.sum(axis=1)
    change = np.expm1(base + total) - np.expm1(base)
    ratio = _ratio(change, total, slope=np.exp(base))
    return Explained(np.expm1(base), explained.values * ratio[:, None, :], "target", None,
                     (*explained.notes, "log-scale contributions of a member rescaled in proportion to target units"))


def in_probabilities(explained: Explained, classes: list[Any]) -> Explained:
    """A member in probabilities of `classes` (columns aligned, zero for a class it never saw). Margins are
    rescaled in proportion so that each class's contributions add up to its probability minus the base one."""
    notes = explained.notes
    labels = list(explained.labels or [])
    base, values = explained.base, explained.values
    if explained.scale == "margin" and base.shape[1] == 1:  # two classes: the second one's log-odds
        total = values.sum(axis=2).sum(axis=1)
        start = expit(base[:, 0])
        ratio = _ratio(expit(base[:, 0] + total) - start, total, slope=start * (1 - start))
        positive = values[:, :, 0] * ratio[:, None]
        base = np.column_stack([1 - start, start])
        values = np.stack([-positive, positive], axis=2)
        notes = (*notes, "log-odds contributions of a member rescaled in proportion to probabilities")
    elif explained.scale == "margin":
        centred = values - values.mean(axis=2, keepdims=True)  # softmax reads margins relative to each other
        start = softmax(base, axis=1)
        change = softmax(base + values.sum(axis=1), axis=1) - start
        values = centred * _ratio(change, centred.sum(axis=1), slope=start * (1 - start))[:, None, :]
        base = start
        notes = (*notes, "softmax-logit contributions of a member rescaled in proportion to probabilities")
    aligned_base = np.zeros((len(base), len(classes)))
    aligned = np.zeros((values.shape[0], values.shape[1], len(classes)))
    where = {label: index for index, label in enumerate(classes)}
    for column, label in enumerate(labels):
        aligned_base[:, where[label]] = base[:, column]
        aligned[:, :, where[label]] = values[:, :, column]
    return Explained(aligned_base, aligned, "probability", list(classes), notes)


def _ratio(change: np.ndarray, total: np.ndarray, *, slope: np.ndarray) -> np.ndarray:
    """change / total, or the slope where the total is too small to divide by."""
    flat = np.abs(total) < FLAT
    return np.where(flat, slope, change / np.where(flat, 1.0, total))


def _weighted(members: list[Explained], weights: np.ndarray, *, scale: Scale, labels: list[Any] | None,
              models: int) -> Explained:
    """`models`: how many distinct models the members are (one model's seed copies are not a blend of models)."""
    base = sum(w * member.base for w, member in zip(weights, members, strict=True))
    values = sum(w * member.values for w, member in zip(weights, members, strict=True))
    notes = tuple(dict.fromkeys(note for member in members for note in member.notes))
    said = ("a blend: its members' contributions added by weight" if models > 1 else
            f"one model fitted {len(members)} times with different seeds: the fits' contributions averaged")
    return Explained(np.asarray(base), np.asarray(values), scale, labels, (said, *notes))

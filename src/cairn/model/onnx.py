"""A trained model as one ONNX graph: cairn's encoder, the model and the inverse target transform, written with
onnx's helpers (nothing is pickled; onnxruntime alone runs it).

What converts (anything else is a ConfigError naming the step and this list):

    the inputs            numbers (double, NaN for missing; a date as days since 1970-01-01, as
                          `onnx_inputs` gives it) clipped to their training range, as `cairn predict`
                          clips them; categories (string, "" for missing) cleaned as the encoder cleans them
    DerivedColumns        features.derive expressions (cairn.model.onnx_derived)
    TabularEncoder        imputation, missing flags, outlier fences, Yeo-Johnson, quantile bins, scaling; dates
                          (days since 1970-01-01 in, calendar parts out); category codes, one-hot or target means.
                          Not free text or numbers written as text (cairn parses those before the pipeline)
    a linear regressor    any scikit-learn linear model with one coefficient vector (Ridge, RidgeCV, Lasso, ...)
    LightGBM regressor    its trees, thresholds kept in double (ai.onnx.ml TreeEnsembleRegressor, opset 3):
                          float thresholds would send a latitude a hair from a split down the wrong branch
    XGBoost               through onnxmltools (float32, as XGBoost itself computes)
    log target            TransformedTargetRegressor(log1p, expm1): expm1 as Exp - 1
    a blend               EnsembleRegressor: the weighted sum of its members' graphs
    classifiers           LogisticRegression (binary, multinomial), LightGBM (binary, multiclass), XGBoost
                          (through EncodedLabels), EnsembleClassifier blends; the binary calibration (isotonic or
                          sigmoid), the multiclass temperature and the decision threshold of the TrainedModel

Outputs: `prediction` [N] (a regression's value; a classifier's label, int64 or string) and, for classifiers,
`probabilities` [N, classes] in the order of the pipeline's classes_.

Tolerance: predictions and probabilities match `TrainedModel.predict` / `predict_proba` (so `cairn predict`)
within rtol 1e-5 (TOLERANCE_RTOL; the graph computes in double, tree ensembles sum their leaves in float32; an
XGBoost classifier's probabilities, float32 throughout, within 1e-6 absolute). Category text is cleaned as the
encoder cleans it (trimmed, runs of spaces folded, lower-cased, missing-value words such as "NA" mean missing),
except for text that is not clean already in three ways: a tab or newline is not a space to onnxruntime; non-ASCII
capitals are not lower-cased (the "C" locale); and an encoder that does not fold case
(preprocessing.normalize_categories: false) gets its text untrimmed. Such text falls into the rare-level group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import ConfigError
from cairn.model.inputs import as_model_frame, has_range
from cairn.model.trained import TrainedModel

__all__ = ["CONVERTS", "OPSET", "TOLERANCE_RTOL", "onnx_inputs", "to_onnx"]

OPSET = 20  # StringSplit and StringConcat (category text cleaned as cairn cleans it)
ML_OPSET = 3
TOLERANCE_RTOL = 1e-5
CONVERTS = ("DerivedColumns", "TabularEncoder (numbers, dates and categories; no free text)",
            "scikit-learn linear models", "LightGBM", "XGBoost", "TransformedTargetRegressor(log1p/expm1)",
            "EnsembleRegressor or EnsembleClassifier of those")
_BRANCH_OBJECTIVES = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
_EXP_OBJECTIVES = {"poisson", "gamma", "tweedie"}


def to_onnx(model: TrainedModel) -> Any:
    """The onnx.ModelProto of `model`: one input per feature (numbers double [N, 1], categories string [N, 1]);
    outputs `prediction` [N] and, for a classifier, `probabilities` [N, classes]."""
    try:
        from onnx import TensorProto, checker, helper
    except ImportError:
        raise ConfigError.single("Exporting to ONNX needs the onnx package, which is not installed.",
                                 where="--format onnx", expected="onnx (and onnxruntime to run the graph)",
                                 got="not installed", fix="pip install 'cairn[onnx]', then export again") from None
    _check_model(model)
    graph = _Graph()
    inputs, prepared = [], {}
    for feature in model.features:
        if feature.kind == "number":
            inputs.append(helper.make_tensor_value_info(feature.name, TensorProto.DOUBLE, [None, 1]))
            graph.numbers.add(feature.name)
            prepared[feature.name] = _within_range(graph, feature.name, feature) if has_range(feature) \
                else feature.name
        else:
            inputs.append(helper.make_tensor_value_info(feature.name, TensorProto.STRING, [None, 1]))
            prepared[feature.name] = feature.name  # cleaned on first use by an encoder that normalises text
            graph.categories.append(feature.name)
    graph.words = max([1, *(len(level.split()) for encoder in _encoders(model.pipeline)
                            for codes in encoder.codes_ for level in codes if isinstance(level, str))])
    if model.problem == "regression":
        answer = _regressor(graph, model.pipeline, prepared, where="pipeline")
        graph.op("Reshape", answer, graph.const(np.array([-1], dtype=np.int64)), name="prediction")
        outputs = [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, [None])]
    else:
        label_type = _classes(model)[1]
        _classifier_outputs(graph, model, prepared)
        outputs = [helper.make_tensor_value_info("prediction", label_type, [None]),
                   helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, len(_classes(model)[0])])]
    built = helper.make_graph(graph.nodes, f"{model.name}_v{model.version}", inputs, outputs, graph.initializers)
    proto = helper.make_model(built, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              producer_name="cairn", doc_string=f"{model.name} v{model.version}: predicts "
                              f"{model.target} ({model.problem})")
    proto.ir_version = 9  # opset 20 needs IR 9; onnxruntime 1.17, the lowest the extra allows, reads it
    checker.check_model(proto)
    return proto


def onnx_inputs(model: TrainedModel, records: pd.DataFrame | list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """What the graph takes for `records`: each feature as an [N, 1] column, numbers as float64 (NaN when
    missing or not a number), categories as str ("" when missing)."""
    frame = as_model_frame(records, model.features)
    fed: dict[str, np.ndarray] = {}
    for feature in model.features:
        values = frame[feature.name].to_numpy()
        if feature.kind == "number":
            fed[feature.name] = values.astype(np.float64).reshape(-1, 1)
        else:
            fed[feature.name] = np.array(["" if pd.isna(value) else str(value) for value in values],
                                         dtype=object).reshape(-1, 1)
    return fed


def _unconvertible(where: str, estimator: Any, why: str = "") -> ConfigError:
    kind = type(estimator).__name__
    return ConfigError.single(
        f"The step {where} ({kind}) cannot be converted to ONNX{': ' + why if why else ''}.", where="--format onnx",
        expected="a pipeline of steps that convert: " + "; ".join(CONVERTS), got=f"{where}: {kind}",
        fix="export with --format cairn or --format mlflow (they serve every model), or train with candidates "
            "[linear, lightgbm] for an ONNX export")


def _check_model(model: TrainedModel) -> None:
    if model.personal_columns:
        names = ", ".join(str(pii.column) for pii in model.personal_columns)
        raise ConfigError.single(
            f"{model.name} v{model.version} hashes personal columns ({names}) before the pipeline: a salted hash "
            "has no ONNX form.", where="--format onnx", expected="a model without personal columns kept as "
            "features", got=names, fix="export with --format cairn or --format mlflow")
    parsed = [f"{feature.name} ({feature.parse})" for feature in model.features
              if feature.parse not in ("plain", "date")]
    if parsed:
        raise ConfigError.single(
            "cairn parses these inputs from text before the pipeline; the ONNX graph reads plain numbers and "
            "categories only: " + ", ".join(parsed) + ".", where="--format onnx",
            expected="inputs parsed as plain numbers or categories", got=", ".join(parsed),
            fix="export with --format cairn or --format mlflow")


class _Graph:
    """Nodes and constants, each output named uniquely."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._cleaned: dict[str, str] = {}
        self.categories: list[str] = []  # the category inputs, in order
        self.numbers: set[str] = set()  # the number inputs (and derived columns), which expressions may read
        self.words = 1  # the most words any level an encoder knows has

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, values: Any, hint: str = "const") -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def op(self, op_type: str, *inputs: str, name: str | None = None, domain: str = "", **attributes: Any) -> str:
        from onnx import helper

        output = name or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], domain=domain or None, **attributes))
        return output

    def cleaned(self, text: str) -> str:
        """The category input `text` ([N, 1] strings) as `clean_text` normalises it: trimmed, runs of spaces
        folded to one, lower-cased. Every category input is cleaned at once, on first use (a few nodes, not a
        few per column)."""
        if not self._cleaned:
            self._cleaned = _cleaned_categories(self, self.categories, words=self.words)
        return self._cleaned[text]

    def doubles(self, values: Any) -> str:
        return self.const(np.asarray(values, dtype=np.float64).reshape(1, -1))

    def columns(self, matrix: str, indices: Any) -> str:
        return self.op("Gather", matrix, self.const(np.asarray(indices, dtype=np.int64)), axis=1)


def _encoders(estimator: Any) -> list[Any]:
    """Every TabularEncoder inside `estimator` (pipelines, target transforms, blends, wrappers)."""
    from cairn.estimators.encoder import encoders_in

    return [encoder for encoder, _ in encoders_in(estimator)]


def _cleaned_categories(graph: _Graph, names: list[str], *, words: int) -> dict[str, str]:
    """`clean_text` for every category input at once: split on spaces (at most `words` splits), joined again with
    one space, lower-cased. A value of more words than any known level keeps its spaces: it matches no level
    either way. Whitespace-only text becomes "" (missing, as in cairn)."""
    def strings(*values: str) -> str:
        return graph.const(np.array(values, dtype=object).reshape([1] * 3 if len(values) == 1 else [-1]))

    table = graph.op("Concat", *names, axis=1)  # [N, C]
    split = graph.op("StringSplit", table, maxsplit=words)
    parts, counts = split, f"{split}_counts"
    graph.nodes[-1].output.append(counts)
    size = graph.op("Concat", graph.op("Shape", table), graph.const(np.array([words], dtype=np.int64)), axis=0)
    padded = graph.op("Concat", parts, graph.op("Expand", strings(""), size), axis=2)
    column = [graph.op("Slice", padded, graph.const(np.array([j], dtype=np.int64)),
                       graph.const(np.array([j + 1], dtype=np.int64)), graph.const(np.array([2], dtype=np.int64)))
              for j in range(words)]
    joined = column[0]
    for part in column[1:]:
        space = graph.op("Where", graph.op("Equal", part, strings("")), strings(""), strings(" "))
        joined = graph.op("StringConcat", graph.op("StringConcat", joined, space), part)
    joined = graph.op("Squeeze", joined, graph.const(np.array([2], dtype=np.int64)))
    fits = graph.op("LessOrEqual", counts, graph.const(np.array(words, dtype=np.int64)))
    folded = graph.op("Where", fits, joined, table)
    flat = graph.op("Reshape", folded, graph.const(np.array([-1], dtype=np.int64)))
    # StringNormalizer takes 1-D text; the "C" locale is on every system (onnxruntime's default, en_US, is not)
    lowered = graph.op("StringNormalizer", flat, case_change_action="LOWER", locale="C")
    cleaned = graph.op("Reshape", lowered, graph.op("Shape", table))
    return {name: graph.columns(cleaned, [index]) for index, name in enumerate(names)}


def _within_range(graph: _Graph, name: str, feature: Any) -> str:
    """np.clip to the training range; NaN stays NaN (ONNX's Max and Min do not promise to keep it)."""
    bounded = graph.op("Min", graph.op("Max", name, graph.doubles([feature.low])), graph.doubles([feature.high]))
    return graph.op("Where", graph.op("IsNaN", name), name, bounded)


def _regressor(graph: _Graph, estimator: Any, prepared: dict[str, str], *, where: str) -> str:
    """[N, 1] double predictions of `estimator` from the prepared raw inputs."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    from cairn.estimators.blends import EnsembleRegressor
    from cairn.estimators.target_transforms import expm1_target, log1p_target

    if isinstance(estimator, TransformedTargetRegressor):
        if estimator.transformer is not None or estimator.func is not log1p_target \
                or estimator.inverse_func is not expm1_target:
            raise _unconvertible(f"{where} target transform", estimator, "only log1p/expm1 converts")
        inner = _regressor(graph, estimator.regressor_, prepared, where=f"{where}.regressor")
        return graph.op("Sub", graph.op("Exp", inner), graph.const(np.array(1.0)))
    if isinstance(estimator, EnsembleRegressor):
        total = None
        for index, (weight, member) in enumerate(zip(estimator.weights_, estimator.estimators_, strict=True)):
            part = graph.op("Mul", _regressor(graph, member, prepared, where=_member(where, estimator, index)),
                            graph.const(np.array(float(weight))))
            total = part if total is None else graph.op("Add", total, part)
        if total is None:
            raise _unconvertible(where, estimator, "a blend of no member")
        return total
    if isinstance(estimator, Pipeline):
        return _pipeline(graph, estimator, prepared, where=where)
    raise _unconvertible(where, estimator)


def _pipeline(graph: _Graph, pipeline: Any, prepared: dict[str, str], *, where: str) -> str:
    matrix, final_name, final = _encoded(graph, pipeline, prepared, where=where)
    return _final_model(graph, final, matrix, where=f"{where}.{final_name}")


def _encoded(graph: _Graph, pipeline: Any, prepared: dict[str, str], *, where: str) -> tuple[str, str, Any]:
    """The encoder's output matrix, and the final step (its name and estimator) that reads it."""
    from cairn.estimators.encoder import DerivedColumns, TabularEncoder
    from cairn.model.onnx_derived import Unconvertible, derived_columns

    matrix: str | None = None
    for step_name, step in pipeline.steps[:-1]:
        at = f"{where}.{step_name}"
        if step is None or step == "passthrough" or (isinstance(step, DerivedColumns) and not step.expressions):
            continue
        if isinstance(step, DerivedColumns) and matrix is None:
            try:
                prepared = {**prepared, **derived_columns(graph, step, prepared)}
            except Unconvertible as error:
                raise _unconvertible(at, step, str(error)) from None
            continue
        if not isinstance(step, TabularEncoder) or matrix is not None:
            raise _unconvertible(at, step)
        matrix = _encoder(graph, step, prepared, where=at)
    final_name, final = pipeline.steps[-1]
    if matrix is None:
        raise _unconvertible(f"{where}.{final_name}", final, "it reads raw columns, not cairn's encoder's output")
    return matrix, final_name, final


def _encoder(graph: _Graph, encoder: Any, prepared: dict[str, str], *, where: str) -> str:
    """TabularEncoder.transform as nodes, its output columns in its order (get_feature_names_out)."""
    if encoder.texts:
        raise _unconvertible(where, encoder, "it encodes free text")
    unknown = [name for name in (*encoder.numeric, *encoder.dates, *encoder.categorical) if name not in prepared]
    if unknown:
        raise _unconvertible(where, encoder, "it reads columns that are not model inputs: " + ", ".join(unknown))
    parts: list[str] = []
    dense: list[str] = []  # what scaling applies to: numbers (reshaped), date parts
    flags: list[str] = []
    if encoder.numeric:
        numbers = graph.op("Concat", *(prepared[name] for name in encoder.numeric), axis=1)
        missing = graph.op("IsNaN", numbers)
        filled = graph.op("Where", missing, graph.doubles(encoder.fill_), numbers)
        if encoder.clip and hasattr(encoder, "lower_"):
            filled = graph.op("Min", graph.op("Max", filled, graph.doubles(encoder.lower_)),
                              graph.doubles(encoder.upper_))
        dense.append(_yeo_johnson(graph, filled, encoder) if len(encoder.powered_) else filled)
        if len(encoder.flagged_):
            flags.append(graph.op("Cast", graph.columns(missing, encoder.flagged_), to=_DOUBLE))
    if encoder.dates:
        days = graph.op("Concat", *(prepared[name] for name in encoder.dates), axis=1)
        days_missing = graph.op("IsNaN", days)
        dense.append(_date_parts(graph, graph.op("Where", days_missing, graph.doubles(encoder.date_fill_), days),
                                 encoder.date_origin_))
        if len(encoder.date_flagged_):
            flags.append(graph.op("Cast", graph.columns(days_missing, encoder.date_flagged_), to=_DOUBLE))
    if dense:
        scaled = dense[0] if len(dense) == 1 else graph.op("Concat", *dense, axis=1)
        if encoder.scale and hasattr(encoder, "mean_"):
            scaled = graph.op("Div", graph.op("Sub", scaled, graph.doubles(encoder.mean_)),
                              graph.doubles(encoder.scale_))
        parts += [scaled, *flags]
    if encoder.numeric:
        for column, edges in encoder.bin_edges_:
            value = graph.columns(filled, [column])
            below = graph.op("Cast", graph.op("LessOrEqual", graph.doubles(edges), value), to=_INT64)
            position = graph.op("ReduceSum", below, graph.const(np.array([1], dtype=np.int64)), keepdims=1)
            bins = np.arange(len(edges) + 1, dtype=np.int64).reshape(1, -1)
            parts.append(graph.op("Cast", graph.op("Equal", position, graph.const(bins)), to=_DOUBLE))
    one_hot: dict[int, str] = {}  # category -> its levels' columns, for the levels' slopes
    for index, (name, codes) in enumerate(zip(encoder.categorical, encoder.codes_, strict=True)):
        text = graph.cleaned(prepared[name]) if encoder.normalize else prepared[name]
        code = _codes(graph, text, codes, folded=encoder.normalize)
        if index in encoder.target_means_:
            table = np.asarray(encoder.target_means_[index].table_, dtype=np.float64)
            known = graph.op("Cast", graph.op("GreaterOrEqual", code, graph.const(np.array(0, dtype=np.int64))),
                             to=_DOUBLE)
            row = graph.op("Max", code, graph.const(np.array(0, dtype=np.int64)))
            flat = graph.op("Reshape", row, graph.const(np.array([-1], dtype=np.int64)))
            parts.append(graph.op("Mul", graph.op("Gather", graph.const(table), flat, axis=0), known))
        elif encoder.one_hot:
            levels = np.arange(encoder.level_counts_[index], dtype=np.int64).reshape(1, -1)
            one_hot[index] = graph.op("Cast", graph.op("Equal", code, graph.const(levels)), to=_DOUBLE)
            parts.append(one_hot[index])
        else:
            parts.append(graph.op("Cast", code, to=_DOUBLE))
    for category, number in encoder.slopes_:  # TabularEncoder._slope_columns
        weighted = graph.op("Mul", graph.columns(scaled, [number]), graph.doubles(np.array([encoder.slopes])))
        parts.append(graph.op("Mul", one_hot[category], weighted))
    if not parts:
        raise _unconvertible(where, encoder, "it encodes no column")
    return graph.op("Concat", *parts, axis=1)


def _date_parts(graph: _Graph, days: str, origin: np.ndarray) -> str:
    """TabularEncoder._date_parts: per date column, days since the earliest training date, then year, month, day
    of month and weekday of the whole day, columns in that order."""
    from cairn.model.onnx_derived import calendar

    whole = graph.op("Floor", days)
    parts = calendar(graph, whole)
    since = graph.op("Sub", days, graph.doubles(origin))
    stacked = [graph.op("Unsqueeze", part, graph.const(np.array([2], dtype=np.int64)))
               for part in (since, parts["year"], parts["month"], parts["day"], parts["weekday"])]
    joined = graph.op("Concat", *stacked, axis=2)  # [N, dates, 5]
    return graph.op("Reshape", joined, graph.const(np.array([0, -1], dtype=np.int64)))


_DOUBLE = 11  # onnx.TensorProto.DOUBLE
_INT64 = 7  # onnx.TensorProto.INT64


def _codes(graph: _Graph, text: str, codes: dict[str | None, int], *, folded: bool) -> str:
    """Each value's level code as TabularEncoder._groups gives it: a known level its code (a whole number in either
    spelling), a missing-value word (in any case, unless the encoder folds case and `text` is lower-cased already)
    the missing level's, anything else the rare-level group's (or -1)."""
    from cairn.estimators.encoder import OTHER_LEVEL, respelt_whole_number
    from cairn.estimators.text_values import MISSING_MARKERS

    fallback = codes.get(OTHER_LEVEL, -1)
    table = {level: code for level, code in codes.items() if isinstance(level, str)}
    for level, code in list(table.items()):  # '98115' and '98115.0' are one level, as in known_spelling
        if (other := respelt_whole_number(level)) is not None:
            table.setdefault(other, code)
    markers = MISSING_MARKERS if folded else {variant for marker in MISSING_MARKERS
                                              for variant in (marker, marker.upper(), marker.capitalize())}
    for marker in sorted(markers):
        table.setdefault(marker, codes.get(None, fallback))
    keys = sorted(table)
    return graph.op("LabelEncoder", text, domain="ai.onnx.ml", keys_strings=keys,
                    values_int64s=[int(table[key]) for key in keys], default_int64=int(fallback))


def _yeo_johnson(graph: _Graph, filled: str, encoder: Any) -> str:
    """cairn.estimators.shapes.yeo_johnson on the powered columns, the others as they are."""
    width = len(encoder.numeric)
    transformed = []
    for column, lam in zip(encoder.powered_, encoder.lambdas_, strict=True):
        value = graph.columns(filled, [int(column)])
        size = graph.op("Abs", value)
        one = graph.const(np.array(1.0))

        def branch(exponent: float, sign: float, size: str = size, one: str = one) -> str:
            if abs(exponent) < 1e-6:
                shaped = graph.op("Log", graph.op("Add", size, one))
            else:
                powered = graph.op("Pow", graph.op("Add", size, one), graph.const(np.array(float(exponent))))
                shaped = graph.op("Div", graph.op("Sub", powered, one), graph.const(np.array(float(exponent))))
            return shaped if sign > 0 else graph.op("Neg", shaped)

        positive = graph.op("GreaterOrEqual", value, graph.const(np.array(0.0)))
        transformed.append(graph.op("Where", positive, branch(float(lam), 1.0), branch(2.0 - float(lam), -1.0)))
    order = list(range(width))
    for position, column in enumerate(encoder.powered_):
        order[int(column)] = width + position
    joined = graph.op("Concat", filled, *transformed, axis=1)
    return graph.columns(joined, order)


def _classes(model: TrainedModel) -> tuple[np.ndarray, int]:
    """The classes in the order the pipeline answers them, and the ONNX type of the label output."""
    classes = np.asarray(getattr(model.pipeline, "classes_", model.classes or []))
    if classes.dtype.kind in "iu" or (classes.dtype == object and all(isinstance(c, int | np.integer)
                                                                      and not isinstance(c, bool) for c in classes)):
        return classes.astype(np.int64), 7  # onnx.TensorProto.INT64
    return np.array([str(label) for label in classes], dtype=object), 8  # onnx.TensorProto.STRING


def _classifier_outputs(graph: _Graph, model: TrainedModel, prepared: dict[str, str]) -> None:
    """`probabilities` as TrainedModel.answer gives them (calibrated when the model is) and `prediction`, the label
    as `label_of` picks it: the most probable class, or the positive class from the threshold up."""
    classes, _ = _classes(model)
    probabilities = _probabilities(graph, model.pipeline, prepared, len(classes), where="pipeline")
    if model.calibration is not None and model.calibration.method == "temperature":
        probabilities = _tempered(graph, probabilities, model.calibration.temperature)
    elif model.calibration is not None and len(classes) == 2:
        probabilities = _calibrated(graph, probabilities, model.calibration, column=model.positive_column)
    graph.op("Identity", probabilities, name="probabilities")
    if model.threshold is not None and len(classes) == 2:
        column = model.positive_column
        positive = graph.columns(probabilities, [column])
        reached = graph.op("GreaterOrEqual", positive, graph.const(np.array(float(model.threshold))))
        flat = graph.op("Reshape", reached, graph.const(np.array([-1], dtype=np.int64)))
        graph.op("Where", flat, graph.const(classes[[column]]), graph.const(classes[[1 - column]]),
                 name="prediction")
        return
    best = graph.op("ArgMax", probabilities, axis=1, keepdims=0)
    graph.op("Gather", graph.const(classes), best, axis=0, name="prediction")


def _member(where: str, blend: Any, index: int) -> str:
    """A blend member as an error names it: by its name in the blend (`lightgbm`, a seed copy `lightgbm.2`), not
    its position among the seed copies."""
    names = [name for name, _ in blend.estimators or []]
    return f"{where}.member[{names[index] if index < len(names) else index}]"


def _probabilities(graph: _Graph, estimator: Any, prepared: dict[str, str], count: int, *, where: str) -> str:
    """[N, count] double class probabilities of `estimator`, in the order of its classes_."""
    from sklearn.pipeline import Pipeline

    from cairn.estimators.blends import EnsembleClassifier

    if isinstance(estimator, EnsembleClassifier):
        total = None
        for index, (weight, member) in enumerate(zip(estimator.weights_, estimator.estimators_, strict=True)):
            if not np.array_equal(np.asarray(member.classes_), np.asarray(estimator.classes_)):
                raise _unconvertible(_member(where, estimator, index), member, "it saw fewer classes than the blend")
            part = graph.op("Mul", _probabilities(graph, member, prepared, count,
                                                  where=_member(where, estimator, index)),
                            graph.const(np.array(float(weight))))
            total = part if total is None else graph.op("Add", total, part)
        if total is None:
            raise _unconvertible(where, estimator, "a blend of no member")
        return total
    if isinstance(estimator, Pipeline):
        matrix, final_name, final = _encoded(graph, estimator, prepared, where=where)
        return _final_classifier(graph, final, matrix, count, where=f"{where}.{final_name}")
    raise _unconvertible(where, estimator)


def _final_classifier(graph: _Graph, estimator: Any, matrix: str, count: int, *, where: str) -> str:
    from sklearn.linear_model import LogisticRegression

    from cairn.estimators.labels import EncodedLabels

    if isinstance(estimator, EncodedLabels):
        return _final_classifier(graph, estimator.estimator_, matrix, count, where=f"{where}.estimator")
    if type(estimator) is LogisticRegression:
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        intercept = np.asarray(estimator.intercept_, dtype=np.float64)
        if count == 2 and coef.shape[0] == 1:
            score = graph.op("Add", graph.op("MatMul", matrix, graph.const(coef[0].reshape(-1, 1))),
                             graph.const(np.array(intercept[0])))
            return _two_columns(graph, graph.op("Sigmoid", score))
        if coef.shape[0] == count and getattr(estimator, "multi_class", "auto") != "ovr" \
                and estimator.solver != "liblinear":
            score = graph.op("Add", graph.op("MatMul", matrix, graph.const(coef.T.copy())),
                             graph.const(intercept.reshape(1, -1)))
            return graph.op("Softmax", score, axis=1)
        raise _unconvertible(where, estimator, "one-vs-rest logistic regression")
    module = type(estimator).__module__
    if module.startswith("lightgbm.") and hasattr(estimator, "booster_") and hasattr(estimator, "classes_"):
        return _lightgbm(graph, estimator, matrix, where=where, count=count)
    if module.startswith("xgboost.") and type(estimator).__name__ == "XGBClassifier":
        return _xgboost(graph, estimator, matrix, where=where, output=1)
    raise _unconvertible(where, estimator)


def _two_columns(graph: _Graph, positive: str) -> str:
    return graph.op("Concat", graph.op("Sub", graph.const(np.array(1.0)), positive), positive, axis=1)


def _calibrated(graph: _Graph, probabilities: str, calibration: Any, *, column: int) -> str:
    """cairn.model.calibration.Calibration.columns: the positive column mapped, the other its complement."""
    from cairn.model.calibration import EDGE

    positive = graph.columns(probabilities, [column])
    low, high = graph.const(np.array(EDGE)), graph.const(np.array(1 - EDGE))
    if calibration.method == "isotonic":
        mapped = _interpolated(graph, positive, np.asarray(calibration.x, dtype=np.float64),
                               np.asarray(calibration.y, dtype=np.float64))
    else:
        clipped = graph.op("Min", graph.op("Max", positive, low), high)
        logit = graph.op("Log", graph.op("Div", clipped, graph.op("Sub", graph.const(np.array(1.0)), clipped)))
        mapped = graph.op("Sigmoid", graph.op("Add", graph.op("Mul", logit, graph.const(
            np.array(float(calibration.slope)))), graph.const(np.array(float(calibration.intercept)))))
    calibrated = graph.op("Min", graph.op("Max", mapped, low), high)
    complement = graph.op("Sub", graph.const(np.array(1.0)), calibrated)
    return graph.op("Concat", *((calibrated, complement) if column == 0 else (complement, calibrated)), axis=1)


def _tempered(graph: _Graph, probabilities: str, temperature: float) -> str:
    """cairn.model.calibration.tempered: softmax(log(max(p, EDGE)) / temperature) by row, floored at EDGE and
    renormalised."""
    from cairn.model.calibration import EDGE

    edge = graph.const(np.array(EDGE))
    logs = graph.op("Log", graph.op("Max", probabilities, edge))
    softmax = graph.op("Softmax", graph.op("Mul", logs, graph.const(np.array(1.0 / temperature))), axis=1)
    floored = graph.op("Max", softmax, edge)
    total = graph.op("ReduceSum", floored, graph.const(np.array([1], dtype=np.int64)), keepdims=1)
    return graph.op("Div", floored, total)


def _interpolated(graph: _Graph, value: str, x: np.ndarray, y: np.ndarray) -> str:
    """np.interp(value, x, y) for an [N, 1] column: the segment each value falls in, then the line through it;
    flat beyond the ends."""
    if len(x) == 1:
        return graph.op("Mul", graph.op("Add", graph.op("Mul", value, graph.const(np.array(0.0))),
                                        graph.const(np.array(1.0))), graph.const(np.array(float(y[0]))))
    inner = x[1:-1].reshape(1, -1)
    segment = graph.op("ReduceSum", graph.op("Cast", graph.op("LessOrEqual", graph.const(inner), value), to=_INT64),
                       graph.const(np.array([1], dtype=np.int64)), keepdims=1)
    flat = graph.op("Reshape", segment, graph.const(np.array([-1], dtype=np.int64)))
    starts, ends = x[:-1], x[1:]
    widths = np.where(ends > starts, ends - starts, 1.0)
    x0 = graph.op("Gather", graph.const(starts.reshape(-1, 1)), flat, axis=0)
    y0 = graph.op("Gather", graph.const(y[:-1].reshape(-1, 1)), flat, axis=0)
    dy = graph.op("Gather", graph.const((y[1:] - y[:-1]).reshape(-1, 1)), flat, axis=0)
    width = graph.op("Gather", graph.const(widths.reshape(-1, 1)), flat, axis=0)
    share = graph.op("Div", graph.op("Sub", value, x0), width)
    share = graph.op("Min", graph.op("Max", share, graph.const(np.array(0.0))), graph.const(np.array(1.0)))
    return graph.op("Add", y0, graph.op("Mul", share, dy))


def _final_model(graph: _Graph, estimator: Any, matrix: str, *, where: str) -> str:
    from sklearn.linear_model._base import LinearModel

    module = type(estimator).__module__
    if module.startswith("sklearn.linear_model") and isinstance(estimator, LinearModel) \
            and np.ndim(estimator.coef_) == 1:
        weights = np.asarray(estimator.coef_, dtype=np.float64).reshape(-1, 1)
        product = graph.op("MatMul", matrix, graph.const(weights))
        return graph.op("Add", product, graph.const(np.array(float(np.ravel(estimator.intercept_)[0]))))
    if module.startswith("lightgbm.") and hasattr(estimator, "booster_") and not hasattr(estimator, "classes_"):
        return _lightgbm(graph, estimator, matrix, where=where)
    if module.startswith("xgboost.") and type(estimator).__name__ == "XGBRegressor":
        return _xgboost(graph, estimator, matrix, where=where)
    raise _unconvertible(where, estimator)


def _xgboost(graph: _Graph, estimator: Any, matrix: str, *, where: str, output: int = 0) -> str:
    """XGBoost through onnxmltools: XGBoost itself compares and sums in float32, so the float32 graph it writes
    loses nothing a split depends on. `output`: which of the converted graph's outputs (a classifier's labels are
    0, its probabilities 1)."""
    try:
        from onnx import compose
        from onnxmltools.convert import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        raise _unconvertible(where, estimator, "onnxmltools is not installed (pip install 'cairn[onnx]')") from None
    width = int(estimator.n_features_in_)
    try:
        converted = convert_xgboost(estimator, initial_types=[("input", FloatTensorType([None, width]))],
                                    target_opset=15)
    except Exception as error:  # onnxmltools names what it cannot read (a categorical split, an objective)
        raise _unconvertible(where, estimator, str(error).splitlines()[0][:200]) from None
    prefix = graph._name("xgboost") + "_"
    converted = compose.add_prefix(converted, prefix)
    graph.nodes.append(_node("Cast", [matrix], [prefix + "input"], to=1))  # onnx.TensorProto.FLOAT
    graph.nodes.extend(converted.graph.node)
    graph.initializers.extend(converted.graph.initializer)
    return graph.op("Cast", converted.graph.output[output].name, to=_DOUBLE)


def _node(op_type: str, inputs: list[str], outputs: list[str], **attributes: Any) -> Any:
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, **attributes)


def _lightgbm(graph: _Graph, estimator: Any, matrix: str, *, where: str, count: int = 0) -> str:
    """The booster's trees as one TreeEnsembleRegressor with double thresholds (LightGBM compares in double):
    a regressor's prediction ([N, 1]), or with `count` classes their probabilities ([N, count]): a binary
    booster's sigmoid of its score, a multiclass one's softmax over one score per class (tree i scores class
    i mod count)."""
    from onnx import TensorProto, helper

    dumped = estimator.booster_.dump_model()
    objective, *options = str(dumped.get("objective", "regression")).split()
    settings = dict(option.split(":", 1) for option in options if ":" in option)
    scores = int(dumped.get("num_class", 1))
    if count == 0:
        known = objective in _BRANCH_OBJECTIVES | _EXP_OBJECTIVES and scores == 1
    else:
        known = (objective == "binary" and count == 2 and scores == 1) or (objective == "multiclass"
                                                                           and scores == count)
    if not known:
        raise _unconvertible(where, estimator, f"objective {objective!r}")
    nodes: dict[str, list[Any]] = {key: [] for key in ("treeids", "nodeids", "featureids", "modes", "values",
                                                      "truenodeids", "falsenodeids", "missing")}
    targets: dict[str, list[Any]] = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    for tree_id, tree in enumerate(dumped["tree_info"]):
        _tree(tree_id, tree["tree_structure"], nodes, targets, where=where, estimator=estimator, scores=scores)
    if dumped.get("average_output"):
        per_score = max(len(dumped["tree_info"]) // scores, 1)
        targets["weights"] = [weight / per_score for weight in targets["weights"]]
    double = TensorProto.DOUBLE
    summed = graph.op(
        "TreeEnsembleRegressor", matrix, domain="ai.onnx.ml", n_targets=scores, aggregate_function="SUM",
        post_transform="NONE", nodes_treeids=nodes["treeids"], nodes_nodeids=nodes["nodeids"],
        nodes_featureids=nodes["featureids"], nodes_modes=nodes["modes"],
        nodes_values_as_tensor=helper.make_tensor("nodes_values", double, [len(nodes["values"])], nodes["values"]),
        nodes_truenodeids=nodes["truenodeids"], nodes_falsenodeids=nodes["falsenodeids"],
        nodes_missing_value_tracks_true=nodes["missing"], target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"], target_ids=targets["ids"],
        target_weights_as_tensor=helper.make_tensor("target_weights", double, [len(targets["weights"])],
                                                    targets["weights"]))
    answer = graph.op("Cast", summed, to=_DOUBLE)
    if objective == "binary":
        slope = float(settings.get("sigmoid", 1.0))
        return _two_columns(graph, graph.op("Sigmoid", graph.op("Mul", answer, graph.const(np.array(slope)))))
    if objective == "multiclass":
        return graph.op("Softmax", answer, axis=1)
    return graph.op("Exp", answer) if objective in _EXP_OBJECTIVES else answer


def _tree(tree_id: int, root: dict[str, Any], nodes: dict[str, list[Any]], targets: dict[str, list[Any]], *,
          where: str, estimator: Any, scores: int = 1) -> None:
    """One LightGBM tree, depth first. A categorical split (x in {a, b, c}) becomes a chain of equality tests
    whose true branches share the left subtree."""
    counter = [0]

    def new_id() -> int:
        counter[0] += 1
        return counter[0] - 1

    def add(node_id: int, feature: int, mode: str, value: float, true_id: int, false_id: int, missing: int) -> None:
        for key, item in zip(("treeids", "nodeids", "featureids", "modes", "values", "truenodeids", "falsenodeids",
                              "missing"), (tree_id, node_id, feature, mode, value, true_id, false_id, missing),
                             strict=True):
            nodes[key].append(item)

    def walk(node: dict[str, Any], node_id: int) -> None:
        if "leaf_value" in node or "split_feature" not in node:
            add(node_id, 0, "LEAF", 0.0, 0, 0, 0)
            targets["treeids"].append(tree_id)
            targets["nodeids"].append(node_id)
            targets["ids"].append(tree_id % scores)
            targets["weights"].append(float(node.get("leaf_value", 0.0)))
            return
        if node.get("missing_type") == "Zero":
            raise _unconvertible(where, estimator, "a split that reads zero as missing (zero_as_missing)")
        left_id, right_id = new_id(), new_id()
        feature, default_left = int(node["split_feature"]), int(bool(node.get("default_left")))
        if node["decision_type"] == "<=":
            add(node_id, feature, "BRANCH_LEQ", float(node["threshold"]), left_id, right_id, default_left)
        elif node["decision_type"] == "==":
            categories = [float(category) for category in str(node["threshold"]).split("||")]
            current = node_id
            for position, category in enumerate(categories):
                last = position == len(categories) - 1
                following = right_id if last else new_id()
                add(current, feature, "BRANCH_EQ", category, left_id, following, 0)
                current = following
        else:
            raise _unconvertible(where, estimator, f"a split of kind {node['decision_type']!r}")
        walk(node["left_child"], left_id)
        walk(node["right_child"], right_id)

    walk(root, new_id())



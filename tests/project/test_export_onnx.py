"""`cairn export --format onnx`: the pipeline as one ONNX graph that onnxruntime runs within TOLERANCE_RTOL of
cairn's own answers, and a clear error naming a step that does not convert."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import ConfigError
from cairn.estimators.blends import EnsembleRegressor
from cairn.estimators.encoder import LEVEL_SLOPES, MAX_SLOPE_NUMBERS, TabularEncoder
from cairn.estimators.native_categories import TabularPipeline
from cairn.estimators.target_transforms import expm1_target, log1p_target
from cairn.project import Project

ort = pytest.importorskip("onnxruntime", reason="the onnx extra (make test installs it)")
from cairn.model.onnx import TOLERANCE_RTOL, onnx_inputs, to_onnx  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def quick(quick_house_prices):
    project = Project.load(quick_house_prices / "cairn.yaml")
    model = project.load_model()
    return project, model, project._holdout(model)


def _run(proto, model, table):
    session = ort.InferenceSession(proto.SerializeToString() if not isinstance(proto, bytes) else proto,
                                   providers=["CPUExecutionProvider"])
    return session.run(["prediction"], onnx_inputs(model, table))[0]


def test_the_exported_linear_pipeline_answers_as_cairn_predict(quick_house_prices, quick, tmp_path):
    project, model, holdout = quick
    target = tmp_path / "onnx"
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "onnx",
                                 "-p", str(quick_house_prices / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in target.iterdir()) == ["README.md", "SHA256SUMS", "inputs.json", "model.onnx"]
    for line in (target / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest, name
    described = json.loads((target / "inputs.json").read_text())
    assert [item["name"] for item in described["inputs"]] == model.feature_names
    features = holdout.drop(columns="Sale_Price")
    features.to_csv(tmp_path / "holdout.csv", index=False)
    expected = project.predict_file(tmp_path / "holdout.csv")["prediction"].to_numpy()
    answered = _run((target / "model.onnx").read_bytes(), model, features)
    assert answered.shape == (len(features),) and len(features) > 100
    np.testing.assert_allclose(answered, expected, rtol=TOLERANCE_RTOL)
    far = features.head(6).assign(Gr_Liv_Area=1e6, Neighborhood=["NORTH_AMES", None, "Atlantis", "  north_ames ",
                                                                  "   ", "North Ames  x"],
                                  MS_Zoning=[" n/a", "NA", "Residential_Low_Density", "residential_low_density  ",
                                             "Floating_Village_Residential", " C_all"])
    np.testing.assert_allclose(_run((target / "model.onnx").read_bytes(), model, far), model.predict(far),
                               rtol=TOLERANCE_RTOL)  # clipped to the training range; text cleaned as cairn does
    one_house = pd.concat([features.head(1)] * 3).assign(Neighborhood=["North_Ames", "  north_ames ", "Atlantis"])
    answered = _run((target / "model.onnx").read_bytes(), model, one_house)
    assert answered[0] == pytest.approx(answered[1], rel=1e-12) and answered[0] != pytest.approx(answered[2])


def _lightgbm_like_the_example(features, target, *, native_categories, **encoder):
    """The example's lightgbm candidate as training builds it (encoder codes, log target), fitted small."""
    lightgbm = pytest.importorskip("lightgbm")
    kinds = {name: "number" if pd.api.types.is_numeric_dtype(features[name]) else "category"
             for name in features.columns}
    coder = TabularEncoder(tuple(n for n, k in kinds.items() if k == "number"),
                           tuple(n for n, k in kinds.items() if k == "category"), **encoder)
    steps = [("encode", coder), ("model", lightgbm.LGBMRegressor(n_estimators=60, num_leaves=15, verbose=-1,
                                                                 n_jobs=1, random_state=0))]
    pipeline = TabularPipeline(steps) if native_categories else Pipeline(steps)
    return TransformedTargetRegressor(regressor=pipeline, func=log1p_target, inverse_func=expm1_target,
                                      check_inverse=False).fit(features, target)


@pytest.mark.parametrize("encoder", [
    {},  # as the example's lightgbm candidate
    {"clip": "iqr", "power": True, "scale": True, "max_levels": 8},  # fences, Yeo-Johnson, target means
    {"max_levels": 8, "target_means": False},  # every level of many-level categories coded, learned natively
    {"one_hot": True, "bins": (("Gr_Liv_Area", 5), ("Lot_Area", 4)), "missing_level": False, "normalize": False},
])
def test_lightgbm_pipelines_and_a_blend_answer_within_tolerance(quick, encoder):
    _, model, holdout = quick
    features = model.frame(holdout.drop(columns="Sale_Price"))
    features.loc[features.index[::7], "Lot_Frontage"] = np.nan  # missing numbers: imputed and flagged
    features.loc[features.index[::5], "Garage_Type"] = np.nan
    features.loc[features.index[1::5], "Garage_Type"] = "NA"  # a missing-value word, as a CSV may hold it
    target = holdout["Sale_Price"].to_numpy()
    native = not encoder.get("one_hot")
    fitted = _lightgbm_like_the_example(features, target, native_categories=native, **encoder)
    blend = EnsembleRegressor()
    blend.estimators_, blend.weights_ = [fitted, model.pipeline], np.array([0.4, 0.6])
    for pipeline in (fitted, blend):
        candidate = dataclasses.replace(model, pipeline=pipeline)
        rows = holdout.drop(columns="Sale_Price").assign(Lot_Frontage=features["Lot_Frontage"].to_numpy(),
                                                         Garage_Type=features["Garage_Type"].to_numpy())
        np.testing.assert_allclose(_run(to_onnx(candidate), candidate, rows), candidate.predict(rows),
                                   rtol=TOLERANCE_RTOL)
    if native:  # the codes were learned as categories: equality chains in the graph
        dumped = json.dumps(fitted.regressor_.steps[-1][1].booster_.dump_model()["tree_info"])
        assert '"decision_type": "=="' in dumped


def test_a_category_of_whole_numbers_reads_in_either_spelling(quick):
    """Codes learned as whole numbers (1, 2, ...) and sent from a file with a gap, which pandas reads as floats
    (1.0): the graph reads '1.0' as the level '1', as cairn does."""
    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price")
    features = model.frame(rows)
    levels = sorted(features["Garage_Type"].dropna().unique())
    numbered = features["Garage_Type"].map({level: number for number, level in enumerate(levels, start=1)})
    whole = numbered.fillna(0).astype(int).astype(object)
    fitted = _lightgbm_like_the_example(features.assign(Garage_Type=whole), holdout["Sale_Price"].to_numpy(),
                                        native_categories=True)
    candidate = dataclasses.replace(model, pipeline=fitted)
    as_learned = rows.assign(Garage_Type=whole.to_numpy())
    with_a_gap = rows.assign(Garage_Type=whole.astype("float64").where(np.arange(len(rows)) != 0).to_numpy())
    exported = to_onnx(candidate)
    answered = _run(exported, candidate, with_a_gap)
    np.testing.assert_allclose(answered, candidate.predict(with_a_gap), rtol=TOLERANCE_RTOL)
    np.testing.assert_allclose(answered[1:], _run(exported, candidate, as_learned)[1:], rtol=TOLERANCE_RTOL)
    assert not np.allclose(answered[1:], _run(exported, candidate, as_learned.assign(Garage_Type=99))[1:])


def test_a_step_that_does_not_convert_is_named(quick):
    _, model, holdout = quick
    features = model.frame(holdout.drop(columns="Sale_Price").head(60))
    encoder = model.pipeline.regressor_.steps[0][1]
    forest = Pipeline([("encode", encoder), ("model", RandomForestRegressor(n_estimators=2, random_state=0))])
    forest.steps[-1][1].fit(encoder.transform(features), holdout["Sale_Price"].head(60))
    with pytest.raises(ConfigError) as raised:
        to_onnx(dataclasses.replace(model, pipeline=forest))
    message = str(raised.value)
    assert "pipeline.model (RandomForestRegressor) cannot be converted to ONNX" in message
    assert "LightGBM" in message and "DerivedColumns" in message and "--format mlflow" in message
    with pytest.raises(ConfigError, match=r"pipeline \(TransformedTargetRegressor\) cannot be converted"):
        to_onnx(dataclasses.replace(model, problem="binary"))  # a classifier's pipeline ends in a classifier
    blend = EnsembleRegressor([("linear", model.pipeline), ("random_forest", forest)], [0.5, 0.5])
    blend.estimators_, blend.weights_ = [model.pipeline, forest], np.array([0.5, 0.5])
    with pytest.raises(ConfigError) as raised:  # a member is named as the blend names it, not by position
        to_onnx(dataclasses.replace(model, pipeline=blend))
    assert "pipeline.member[random_forest].model (RandomForestRegressor) cannot be converted" in str(raised.value)


def test_xgboost_pipelines_convert_through_onnxmltools(quick):
    xgboost = pytest.importorskip("xgboost")
    pytest.importorskip("onnxmltools")
    _, model, holdout = quick
    features = model.frame(holdout.drop(columns="Sale_Price"))
    encoder = TabularEncoder(tuple(f.name for f in model.features if f.kind == "number"),
                             tuple(f.name for f in model.features if f.kind == "category"))
    steps = [("encode", encoder), ("model", xgboost.XGBRegressor(n_estimators=80, max_depth=4, n_jobs=1))]
    fitted = TransformedTargetRegressor(regressor=Pipeline(steps), func=log1p_target, inverse_func=expm1_target,
                                        check_inverse=False).fit(features, holdout["Sale_Price"].to_numpy())
    candidate = dataclasses.replace(model, pipeline=fitted)
    rows = holdout.drop(columns="Sale_Price")
    np.testing.assert_allclose(_run(to_onnx(candidate), candidate, rows), candidate.predict(rows),
                               rtol=TOLERANCE_RTOL)
    from cairn.estimators.labels import EncodedLabels

    price = holdout["Sale_Price"].to_numpy()
    bands = np.array(["low", "mid", "high"])[np.digitize(price, np.quantile(price, [1 / 3, 2 / 3]))]
    classifier = Pipeline([("encode", encoder), ("model", EncodedLabels(xgboost.XGBClassifier(
        n_estimators=40, max_depth=3, n_jobs=1)))]).fit(features, bands)
    candidate = dataclasses.replace(model, problem="multiclass", pipeline=classifier, classes=["high", "low", "mid"])
    session = ort.InferenceSession(to_onnx(candidate).SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(["prediction", "probabilities"], onnx_inputs(candidate, rows))
    np.testing.assert_allclose(probabilities, candidate.predict_proba(rows), rtol=1e-5, atol=1e-6)  # float32
    assert labels.tolist() == candidate.predict(rows).tolist()


def _classifier(steps_model, features, labels, *, one_hot, native=False):
    kinds = {f: pd.api.types.is_numeric_dtype(features[f]) for f in features.columns}
    coder = TabularEncoder(tuple(n for n, number in kinds.items() if number),
                           tuple(n for n, number in kinds.items() if not number), one_hot=one_hot, scale=one_hot)
    steps = [("encode", coder), ("model", steps_model)]
    return (TabularPipeline(steps) if native else Pipeline(steps)).fit(features, labels)


def test_classifiers_give_cairns_probabilities_and_labels(quick):
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.linear_model import LogisticRegression

    from cairn.estimators.blends import EnsembleClassifier
    from cairn.model.calibration import Calibration

    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price")
    features = model.frame(rows)
    price = holdout["Sale_Price"].to_numpy()
    booster = {"n_estimators": 40, "num_leaves": 7, "verbose": -1, "n_jobs": 1, "random_state": 0}
    expensive = np.where(price > np.median(price), "yes", "no")
    bands = np.digitize(price, np.quantile(price, [1 / 3, 2 / 3]))  # 0, 1, 2: int labels
    linear = _classifier(LogisticRegression(max_iter=2000), features, expensive, one_hot=True)
    trees = _classifier(lightgbm.LGBMClassifier(**booster), features, expensive, one_hot=False, native=True)
    several = EnsembleClassifier()
    several.estimators_ = [_classifier(lightgbm.LGBMClassifier(**booster), features, bands, one_hot=False),
                           _classifier(LogisticRegression(max_iter=2000), features, bands, one_hot=True)]
    several.weights_, several.classes_ = np.array([0.7, 0.3]), np.array([0, 1, 2])
    isotonic = Calibration("isotonic", (0.0, 0.2, 0.5, 0.9, 1.0), (0.01, 0.1, 0.45, 0.95, 0.99))
    cases = [(linear, "binary", {"threshold": 0.3, "positive_class": "yes",
                                 "calibration": Calibration("sigmoid", slope=1.3, intercept=-0.2)}),
             (trees, "binary", {"calibration": isotonic, "threshold": 0.6, "positive_class": "no"}),
             (trees, "binary", {}),
             (several, "multiclass", {}),
             (several, "multiclass", {"calibration": Calibration("temperature", temperature=1.7)})]
    for pipeline, problem, extra in cases:
        candidate = dataclasses.replace(model, problem=problem, pipeline=pipeline,
                                        classes=np.asarray(pipeline.classes_).tolist(), **extra)
        session = ort.InferenceSession(to_onnx(candidate).SerializeToString(), providers=["CPUExecutionProvider"])
        labels, probabilities = session.run(["prediction", "probabilities"], onnx_inputs(candidate, rows))
        np.testing.assert_allclose(probabilities, candidate.predict_proba(rows), rtol=TOLERANCE_RTOL, atol=1e-9)
        assert labels.tolist() == candidate.predict(rows).tolist()
        assert len(set(labels.tolist())) == len(pipeline.classes_)  # every class answered somewhere


DERIVED = (("House_Age", "Year_Sold - Year_Built"), ("Area_per_Room", "Gr_Liv_Area / max(TotRms_AbvGrd, 1)"),
           ("Log_Lot", "log(Lot_Area + 1)"), ("Has_Pool", "if(Pool_Area > 0, 1, 0)"),
           ("Mixed", "Lot_Area % 7 + (-2) ** 3 - Misc_Val / Pool_Area + sqrt(Garage_Area - 300) * isnull(Lot_Frontage)"
                     " + clip(Mas_Vnr_Area, 10, 500) + round(Lot_Frontage / 3) + exp(-Fireplaces)"),
           ("Flags", "(Year_Built >= 2000 and not Fireplaces) + (Full_Bath != 2 or Half_Bath < 1) + min(0.5, 1)"),
           ("Twice", "Year_Built * 2 + log1p(Wood_Deck_SF) + abs(-Bsmt_Unf_SF) + floor(Lot_Frontage / 7) + ceil(-3.5)"))


def test_derived_columns_become_nodes_with_cairns_answers(quick):
    from sklearn.linear_model import Ridge

    from cairn.estimators.encoder import DerivedColumns

    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price")
    rows.loc[rows.index[::6], "Lot_Frontage"] = np.nan  # isnull, NaN through min/max/round, the encoder's fill
    names = [feature.name for feature in model.features]
    numbers = tuple(f.name for f in model.features if f.kind == "number") + tuple(name for name, _ in DERIVED)
    pipeline = Pipeline([("derive", DerivedColumns(DERIVED, tuple(names))),
                         ("encode", TabularEncoder(numbers, tuple(f.name for f in model.features
                                                                  if f.kind == "category"), one_hot=True, scale=True)),
                         ("model", Ridge(alpha=3.0))])
    pipeline.fit(model.frame(rows), np.log(holdout["Sale_Price"].to_numpy()))
    candidate = dataclasses.replace(model, pipeline=pipeline)
    np.testing.assert_allclose(_run(to_onnx(candidate), candidate, rows), candidate.predict(rows),
                               rtol=TOLERANCE_RTOL)
    texts = [dataclasses.replace(f, parse="text_number") if f.name == "Lot_Area" else f for f in model.features]
    with pytest.raises(ConfigError, match=r"plain numbers and categories only: Lot_Area \(text_number\)"):
        to_onnx(dataclasses.replace(candidate, features=texts))


@pytest.mark.parametrize("slopes", [0.0, LEVEL_SLOPES])
def test_a_ridge_on_every_level_exports_as_cairn_answers_it(quick, slopes):
    """sparse_linear's pipeline: every level one-hot (beyond max_levels, no target means), sparse for many rows,
    with or without each level's slopes on the numbers."""
    from scipy import sparse
    from sklearn.linear_model import Ridge

    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price")
    encoder = TabularEncoder(tuple(f.name for f in model.features if f.kind == "number"),
                             tuple(f.name for f in model.features if f.kind == "category"), one_hot=True, scale=True,
                             target_means=False, max_levels=3, slopes=slopes)
    pipeline = Pipeline([("encode", encoder), ("model", Ridge(alpha=3.0))])
    pipeline.fit(model.frame(rows), np.log(holdout["Sale_Price"].to_numpy()))
    assert sparse.issparse(encoder.transform(model.frame(rows))) and len(rows) > 256
    assert sum(name.startswith("Neighborhood=") for name in encoder.get_feature_names_out()) > 10
    assert len({number for _, number in encoder.slopes_}) == (MAX_SLOPE_NUMBERS if slopes else 0)
    assert len({category for category, _ in encoder.slopes_}) > (10 if slopes else -1)
    candidate = dataclasses.replace(model, pipeline=pipeline)
    np.testing.assert_allclose(_run(to_onnx(candidate), candidate, rows), candidate.predict(rows),
                               rtol=TOLERANCE_RTOL)


def test_dates_become_calendar_parts_as_cairns_encoder_and_expressions_give_them(quick):
    from sklearn.linear_model import Ridge

    from cairn.estimators.encoder import DerivedColumns
    from cairn.model.inputs import FeatureSpec

    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price")
    day = np.arange(len(rows)) % 28 + 1
    rows["Sale_Date"] = [f"{year}-{month:02d}-{d:02d}" for year, month, d in zip(rows["Year_Sold"], rows["Mo_Sold"],
                                                                                 day, strict=True)]
    rows.loc[rows.index[::9], "Sale_Date"] = None
    rows.loc[rows.index[1], "Sale_Date"] = "1899-12-31"  # before 1970 and the Gregorian leap rules: negative days
    features = [*model.features, FeatureSpec("Sale_Date", "number", parse="date")]
    calendar = (("Sale_Weekday", "weekday(Sale_Date)"), ("Sale_Year", "year(Sale_Date) + month(Sale_Date) / 12"),
                ("Sale_Day", "day(Sale_Date) * 2"))
    numbers = tuple(f.name for f in model.features if f.kind == "number") + tuple(name for name, _ in calendar)
    encoder = TabularEncoder(numbers, tuple(f.name for f in model.features if f.kind == "category"), ("Sale_Date",),
                             one_hot=True, scale=True)
    pipeline = Pipeline([("derive", DerivedColumns(calendar, tuple(f.name for f in features))),
                         ("encode", encoder), ("model", Ridge())])
    candidate = dataclasses.replace(model, features=features, pipeline=pipeline)
    pipeline.fit(candidate.frame(rows), np.log(holdout["Sale_Price"].to_numpy()))
    np.testing.assert_allclose(_run(to_onnx(candidate), candidate, rows), candidate.predict(rows),
                               rtol=TOLERANCE_RTOL)
    derived = pipeline.named_steps["derive"].transform(candidate.inputs(rows.head(2)))
    assert [derived[name][1] for name, _ in calendar] == [6, 1900, 62]  # Sunday 1899-12-31, in the rows compared


def test_levels_of_several_words_match_text_with_stray_spaces(quick):
    from sklearn.linear_model import Ridge

    _, model, holdout = quick
    rows = holdout.drop(columns="Sale_Price").assign(Neighborhood=lambda t: t["Neighborhood"].str.replace("_", " "))
    encoder = TabularEncoder(tuple(f.name for f in model.features if f.kind == "number"),
                             tuple(f.name for f in model.features if f.kind == "category"), one_hot=True)
    pipeline = Pipeline([("encode", encoder), ("model", Ridge())]).fit(model.frame(rows), holdout["Sale_Price"])
    candidate = dataclasses.replace(model, pipeline=pipeline)
    assert "north ames" in encoder.codes_[encoder.categorical.index("Neighborhood")]
    asked = pd.concat([rows.head(1)] * 5).assign(Neighborhood=["North Ames", "  north   AMES ", "North Ames x y z",
                                                               "NorthAmes", "   "])
    answered = _run(to_onnx(candidate), candidate, asked)
    np.testing.assert_allclose(answered, candidate.predict(asked), rtol=TOLERANCE_RTOL)
    assert answered[1] == pytest.approx(answered[0], rel=1e-12) and answered[2] != pytest.approx(answered[0])

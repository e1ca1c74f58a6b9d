"""Contributions plus the base value give each model's own answer back (rtol 1e-6), for every candidate family and
for both kinds of blend, from records and from frames; and they are told in the model's input columns."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from cairn.config.schema import Business, Data, Features, Preprocessing
from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor
from cairn.explain import explain
from cairn.model.trained import TrainedModel, as_model_frame
from cairn.stages.business import business_case
from cairn.stages.features import plan_features
from cairn.stages.preprocessing import clean_table
from cairn.stages.selection import CATALOGUE, installed
from cairn.stages.training.train import build_pipeline
from tests.stages.test_training import AMES, TARGET, classification

CANDIDATES = [name for name, candidate in CATALOGUE.items() if installed(candidate)]
FEW_TREES = {"lightgbm": {"n_estimators": 40}, "xgboost": {"n_estimators": 40}, "catboost": {"iterations": 40},
             "random_forest": {"n_estimators": 15}, "extra_trees": {"n_estimators": 15},
             "hist_gradient_boosting": {"max_iter": 40}}
DERIVE = {"House_Age": "Year_Sold - Year_Built", "Rooms_Per_Area": "TotRms_AbvGrd / Gr_Liv_Area"}
RTOL = 1e-6


def house(rows: int, *, log: bool):
    raw = pd.read_csv(AMES).sample(rows, random_state=1).reset_index(drop=True)
    case = business_case(Business(problem="regression", target=TARGET,
                                  success=[{"metric": "mape", "below": 0.1}]))  # type: ignore[list-item]
    clean, _ = clean_table(raw, target=TARGET, spec=Preprocessing())
    features = Features(derive=DERIVE, target_transform="log" if log else "none")
    plan = plan_features(clean, case=case, spec=features, data_spec=Data(source="ames.csv.gz"),
                         cleaning=Preprocessing(), column_types={})
    return clean, case, plan


def fitted(name, table, case, plan, *, native=False):
    candidate = replace(CATALOGUE[name], native_categories=native)
    pipeline = build_pipeline(candidate, plan, case=case, seed=3, n_jobs=1, n_rows=len(table),
                              params=FEW_TREES.get(name))
    return pipeline.fit(as_model_frame(table, plan.features), table[case.target].to_numpy())


def trained(pipeline, case, plan, classes=None) -> TrainedModel:
    return TrainedModel(name="m", version=1, problem=case.problem, target=case.target, features=plan.features,
                        pipeline=pipeline, classes=classes)


def records(table, model, rows=8):
    return table[model.feature_names].head(rows).to_dict("records")


@pytest.fixture(scope="module", params=[True, False], ids=["log_target", "plain_target"])
def ames(request):
    return house(260, log=request.param)


def on_scale(explained, predicted):
    """The model's own answer on the explained scale (XGBoost answers in float32: compared where it is exact)."""
    return np.log1p(predicted) if explained.scales[0].startswith("log1p") else predicted


def check_regression(model, table):
    frame = table.head(40)
    explained = explain(model, frame)
    assert explained.inputs == model.feature_names
    predicted = model.predict(frame).astype("float64")
    assert np.allclose(explained.predictions[:, 0], on_scale(explained, predicted), rtol=RTOL, atol=0)
    assert np.allclose(explained.values[:, 0], predicted, rtol=1e-5, atol=0)
    per_row = explain(model, records(table, model))
    predicted = model.predict(records(table, model)).astype("float64")
    assert np.allclose(per_row.predictions[:, 0], on_scale(per_row, predicted), rtol=RTOL, atol=0)
    assert np.allclose(per_row.contributions, explained.contributions[:8], rtol=1e-9, atol=1e-9)
    one = per_row.row(0)
    assert one.prediction == pytest.approx(one.base_value + sum(one.contributions.values()), rel=1e-12)
    return explained


@pytest.mark.parametrize("name", CANDIDATES)
def test_regression_contributions_add_up_to_each_candidates_prediction(ames, name):
    table, case, plan = ames
    model = trained(fitted(name, table, case, plan), case, plan)
    explained = check_regression(model, table)
    if plan.target_transform == "log":
        assert explained.scales == [f"log1p({TARGET})"] and "log scale" in explained.note
    else:
        assert explained.scales == [TARGET]
    # derived features land on the inputs they read: House_Age on Year_Sold and Year_Built
    assert "House_Age" not in explained.inputs and "Year_Built" in explained.inputs


def test_native_categories_and_a_regression_blend_add_up(ames):
    table, case, plan = ames
    members = [fitted("lightgbm", table, case, plan, native=True), fitted("linear", table, case, plan),
               fitted("knn", table, case, plan)]
    blend = EnsembleRegressor([(str(i), m) for i, m in enumerate(members)], [0.5, 0.3, 0.2])
    blend.estimators_, blend.weights_ = members, np.array([0.5, 0.3, 0.2])
    model = trained(blend, case, plan)
    explained = check_regression(model, table)
    assert explained.scales == [TARGET]  # a blend averages target units, whatever its members' scale
    assert "blend" in explained.note
    if plan.target_transform == "log":
        assert "rescaled in proportion to target units" in explained.note


def test_one_booster_with_its_seed_copies_is_said_as_such_not_as_a_blend(ames):
    table, case, plan = ames
    fits = [fitted("lightgbm", table, case, plan), fitted("lightgbm", table, case, plan)]
    copies = EnsembleRegressor([("lightgbm", fits[0]), ("lightgbm.2", fits[1])], [0.5, 0.5])
    copies.estimators_, copies.weights_ = fits, np.array([0.5, 0.5])
    explained = check_regression(trained(copies, case, plan), table)
    assert "one model fitted 2 times with different seeds: the fits' contributions averaged" in explained.note
    assert "a blend" not in explained.note


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", CANDIDATES)
def test_classifier_contributions_add_up_to_each_candidates_answer(name, classes):
    table, case, plan = classification(200, classes=classes)
    pipeline = fitted(name, table, case, plan)
    model = trained(pipeline, case, plan, classes=list(pipeline.classes_))
    check_classifier(model, table, name)


def check_classifier(model, table, name=""):
    frame = table.head(40)
    explained = explain(model, frame)
    proba = model.predict_proba(frame)
    classes = list(model.pipeline.classes_)
    assert explained.inputs == model.feature_names
    if model.problem == "binary":
        column = classes.index(explained.outputs[0])
        assert np.allclose(explained.values[:, 0], proba[:, column], rtol=RTOL, atol=1e-12)
        if explained.scales[0].startswith("log-odds"):
            margin = logit(np.clip(proba[:, column], 1e-12, 1 - 1e-12))
            assert np.allclose(explained.predictions[:, 0], margin, rtol=1e-5, atol=1e-6)
        else:
            assert name in {"random_forest", "extra_trees", "knn", ""}
    else:
        assert explained.outputs == classes
        assert np.allclose(explained.values, proba, rtol=RTOL, atol=1e-12)
        assert (np.asarray(classes)[explained.chosen] == model.predict(frame)).all()
    per_row = explain(model, records(table, model))
    assert np.allclose(per_row.values, explained.values[:8], rtol=RTOL, atol=1e-12)
    return explained


@pytest.mark.parametrize("classes", [2, 3])
def test_a_classifier_blend_adds_up_in_probabilities(classes):
    table, case, plan = classification(200, classes=classes)
    members = [fitted("lightgbm", table, case, plan), fitted("random_forest", table, case, plan),
               fitted("linear", table, case, plan)]
    blend = EnsembleClassifier([(str(i), m) for i, m in enumerate(members)], [0.5, 0.3, 0.2])
    # fitted by hand: the members above
    blend.estimators_, blend.weights_, blend.classes_ = members, np.array([0.5, 0.3, 0.2]), members[0].classes_
    model = trained(blend, case, plan, classes=list(blend.classes_))
    explained = check_classifier(model, table)
    assert all(scale.startswith("probability of") for scale in explained.scales)
    assert "rescaled in proportion to probabilities" in explained.note


def test_the_named_positive_class_is_the_one_explained():
    table, case, plan = classification(200, classes=2)
    pipeline = fitted("lightgbm", table, case, plan)
    model = trained(pipeline, case, plan, classes=list(pipeline.classes_))
    default = explain(model, table.head(5))
    assert default.scales == ["log-odds of yes"]
    flipped = explain(replace(model, positive_class="no"), table.head(5))
    assert flipped.scales == ["log-odds of no"]
    assert np.allclose(flipped.contributions, -default.contributions)
    assert np.allclose(flipped.values + default.values, 1.0)


def test_a_model_saved_by_0_1_0_is_explained_too(tmp_path):
    from cairn.registry import Registry
    from tests.model.test_legacy import ANSWERS, old_store

    model = Registry(old_store(tmp_path)).load("house-prices")
    explained = model.explain(ANSWERS["records"])
    assert explained.inputs == model.feature_names
    assert np.allclose(explained.values[:, 0], ANSWERS["predictions"], rtol=RTOL, atol=0)


def test_dates_text_bins_flags_and_target_means_map_back_to_their_inputs():
    """Every way the encoder widens an input (date parts, text counts, quantile bins, missing flags, one-hot levels,
    target means of a many-level category) is summed back to that input, for a linear model and a booster."""
    from lightgbm import LGBMRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from cairn.estimators.encoder import TabularEncoder
    from cairn.model.trained import FeatureSpec

    rng = np.random.default_rng(0)
    rows = 300
    table = pd.DataFrame({
        "area": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(100, 20, rows)),
        "sold": pd.date_range("2020-01-01", periods=rows, freq="3D").astype(str),
        "notes": [f"room {i % 7} with {i % 3} windows" for i in range(rows)],
        "colour": rng.choice(["red", "green", "blue"], rows),
        "street": [f"street {i % 60}" for i in range(rows)],  # 60 levels: target-encoded
    })
    y = (np.nan_to_num(table["area"].to_numpy(), nan=100.0) * 3 + (table["colour"] == "red") * 50
         + rng.normal(0, 5, rows))
    features = [FeatureSpec("area", "number"), FeatureSpec("sold", "number", parse="date"),
                FeatureSpec("notes", "category", parse="text"), FeatureSpec("colour", "category"),
                FeatureSpec("street", "category")]
    for model_step, one_hot in ((Ridge(alpha=1.0), True), (LGBMRegressor(n_estimators=30, n_jobs=1, verbose=-1),
                                                            False)):
        encoder = TabularEncoder(("area",), ("colour", "street"), ("sold",), ("notes",), scale=one_hot,
                                 one_hot=one_hot, bins=(("area", 4),) if one_hot else (), max_levels=30)
        pipeline = Pipeline([("encode", encoder), ("model", model_step)])
        model = TrainedModel(name="m", version=1, problem="regression", target="y", features=features,
                             pipeline=pipeline)
        pipeline.fit(model.frame(table), y)
        assert encoder.target_means_ and len(encoder.get_feature_names_out()) > len(features)
        explained = model.explain(table.head(30))
        assert explained.inputs == ["area", "sold", "notes", "colour", "street"]
        assert np.allclose(explained.predictions[:, 0], model.predict(table.head(30)), rtol=RTOL, atol=0)
        assert np.abs(explained.contributions[:, 3, 0]).max() > 10  # colour: red adds about 50

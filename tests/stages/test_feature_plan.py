"""Stage 5 choices on real and synthetic columns: free text counted, high-cardinality categories target-encoded
out of fold, skewed numbers reshaped and bins added for the models that scale, bad bins named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Business, Data, Features, Models, Preprocessing, Training
from cairn.errors import ConfigError
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.monitoring.drift import feature_drift
from cairn.stages.business import business_case
from cairn.stages.features import build_encoder, plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.train import train_models

WORDS = np.array(["garden", "garage", "pool", "view", "quiet", "new", "roof", "kitchen"])


def listings(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Prices that grow with the words in a free-text description and with a shop among 150."""
    rng = np.random.default_rng(seed)
    words = rng.integers(1, 12, rows)
    shops = rng.integers(0, 150, rows)
    effect = rng.normal(0, 30, 150)
    return pd.DataFrame({
        "description": [" ".join(rng.choice(WORDS, n)) + f" call {rng.integers(100, 999)}" for n in words],
        "shop": [f"shop {s}" for s in shops],
        "area": rng.lognormal(4, 0.8, rows),
        "price": 100 + 10 * words + effect[shops] + rng.normal(0, 5, rows),
    })


def plan_for(table: pd.DataFrame, **features: object):
    case = business_case(Business(problem="regression", target="price"))
    plan = plan_features(table, case=case, spec=Features(**features), data_spec=Data(source="x.csv"),  # type: ignore[arg-type]
                         cleaning=Preprocessing(), column_types={"description": "text"})
    return case, plan


def test_free_text_becomes_counts_and_serves_from_records():
    table = listings()
    case, plan = plan_for(table)
    assert plan.texts == ["description"] and "description" not in plan.categorical
    assert any("free text, counted" in note for note in plan.notes)
    result = train_models(table, case=case, plan=plan, candidates=choose_candidates(Models(candidates=["linear"])),
                          spec=Training(budget_minutes=1.0, ensemble=False), seed=1)
    encoder = result.pipeline.regressor_ if hasattr(result.pipeline, "regressor_") else result.pipeline
    names = list(encoder.named_steps["encode"].get_feature_names_out())
    assert {"description~chars", "description~words", "description~digits", "shop~target"} <= set(names)
    model = TrainedModel(name="t", version=1, problem="regression", target="price", features=plan.features,
                         pipeline=result.pipeline)
    holdout = table.iloc[result.holdout_index]
    predicted = model.predict(holdout.drop(columns="price").to_dict(orient="records"))
    assert np.corrcoef(predicted, holdout["price"])[0, 1] > 0.8  # words and shop carry the price
    without = plan_for(table, text="drop")[1]
    assert without.texts == [] and without.dropped["description"].startswith("free text")


def test_text_drift_compares_lengths():
    table = listings()
    _, plan = plan_for(table)
    longer = table.assign(description=table["description"] + " and a much longer story about the garden")
    report = feature_drift(table, longer, features=[f for f in plan.features if f.name == "description"])
    assert report.features[0].kind == "number" and report.features[0].drifted
    same = feature_drift(table, listings(seed=1), features=[f for f in plan.features if f.name == "description"])
    assert not same.features[0].drifted


def test_scaling_models_get_power_transform_and_bins_trees_do_not():
    table = listings()
    table["price"] += 30 * np.log(table["area"])  # price follows the log of a log-normal area
    _, plan = plan_for(table, bins={"area": 5})
    linear = build_encoder(plan, scale=True, one_hot=True)
    trees = build_encoder(plan, scale=False, one_hot=False)
    assert linear.power and linear.bins == (("area", 5),)
    assert not trees.power and trees.bins == ()
    frame = table.drop(columns="price")
    from cairn.model.trained import as_model_frame

    encoded = linear.fit_transform(as_model_frame(frame, plan.features), table["price"].to_numpy())
    names = list(linear.get_feature_names_out())
    assert [n for n in names if n.startswith("area~bin=")] == [f"area~bin={k}" for k in range(5)]
    area = encoded[:, names.index("area")]
    assert abs(pd.Series(area).skew()) < 0.3 < pd.Series(frame["area"]).skew()  # log-normal area reshaped
    off = plan_for(table, power_transform="none")[1]
    assert not build_encoder(off, scale=True, one_hot=True).power


def test_a_skewed_number_the_target_follows_straight_is_left_alone():
    """Yeo-Johnson makes a skewed column normal, but a linear model needs the shape the target follows: arrival
    delay grows in a straight line with a skewed departure delay, and the transform would bend it."""
    from cairn.estimators.shapes import yeo_johnson_lambdas

    rng = np.random.default_rng(0)
    delay = rng.exponential(20, 5_000)
    values = np.column_stack([delay, rng.lognormal(3, 1, 5_000)])
    target = (delay + rng.normal(0, 5, 5_000)).reshape(-1, 1)
    assert list(yeo_johnson_lambdas(values)[0]) == [0, 1]  # both skewed
    assert 0 not in yeo_johnson_lambdas(values, targets=target)[0]
    logged = np.log(delay).reshape(-1, 1)
    assert list(yeo_johnson_lambdas(values[:, :1], targets=logged)[0]) == [0]  # the target follows its log


def test_bins_must_name_a_numeric_feature():
    with pytest.raises(ConfigError) as caught:
        plan_for(listings(), bins={"shop": 4})
    problem = caught.value.problems[0]
    assert problem.where == "features.bins.shop" and "numeric feature" in problem.expected


def test_text_feature_has_no_example_value():
    """Free text may hold anything personal: it never appears as an example in docs or OpenAPI."""
    _, plan = plan_for(listings())
    text = next(f for f in plan.features if f.name == "description")
    assert text == FeatureSpec("description", "category", None, (), "text")

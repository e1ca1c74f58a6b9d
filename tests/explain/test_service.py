"""POST /explain over a real server: the same answer as Model.explain, the same rules as /predict for the body,
the API key, and schemathesis over its OpenAPI description."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import schemathesis
from schemathesis import GenerationMode

from cairn.serving import create_app
from cairn.serving.routes.explain import MAX_RECORDS
from tests.explain.test_additivity import fitted, house, trained
from tests.serving.test_app import running
from tests.serving.test_fuzz import fuzz


@pytest.fixture(scope="module")
def served():
    table, case, plan = house(240, log=True)
    model = trained(fitted("lightgbm", table, case, plan), case, plan)
    return model, table


@pytest.fixture(scope="module")
def url(served) -> Iterator[str]:
    with running(create_app(served[0])) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as http:
        yield http


def record(model, table, row=0):
    return {key: (None if value != value else value) for key, value in  # NaN is no JSON
            table[model.feature_names].iloc[row].to_dict().items()}


def test_one_record_is_explained_as_model_explain_does(client, served):
    model, table = served
    sent = record(model, table, 3)
    answer = client.post("/explain", json=sent)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = model.explain([sent]).row(0)
    explanation = body["explanation"]
    assert list(explanation["contributions"]) == model.feature_names
    assert explanation["contributions"] == pytest.approx(expected.contributions, rel=1e-9, abs=1e-12)
    assert explanation["scale"] == "log1p(Sale_Price)"
    assert explanation["base_value"] + sum(explanation["contributions"].values()) == pytest.approx(
        explanation["prediction"], rel=1e-9)
    predicted = client.post("/predict", json=sent).json()["prediction"]
    assert explanation["value"] == pytest.approx(predicted, rel=1e-6)
    assert body["model"] == model.name and body["version"] == model.version


def test_an_array_is_explained_in_order(client, served):
    model, table = served
    sent = [record(model, table, row) for row in range(5)]
    body = client.post("/explain", json=sent).json()
    values = [item["value"] for item in body["explanations"]]
    assert np.allclose(values, model.predict(sent), rtol=1e-6)


def test_a_missing_field_is_imputed_and_an_unknown_one_ignored_as_predict_does(client, served):
    model, table = served
    sent = record(model, table, 1)
    del sent["Gr_Liv_Area"]
    sent["Gr_Liv_Aera"] = 1500
    body = client.post("/explain", json=sent).json()
    predicted = client.post("/predict", json=sent).json()
    assert body["explanation"]["inputs"]["Gr_Liv_Area"] is None  # imputed, still explained
    assert "Gr_Liv_Aera" not in body["explanation"]["contributions"]
    assert body["warnings"] == predicted["warnings"]
    assert any("did you mean 'Gr_Liv_Area'" in warning for warning in body["warnings"])
    assert body["explanation"]["value"] == pytest.approx(predicted["prediction"], rel=1e-6)


@pytest.mark.parametrize("sent, loc", [
    ({"Gr_Liv_Area": "large"}, ["body", "Gr_Liv_Area"]),
    ({"Neighborhood": {"name": "x"}}, ["body", "Neighborhood"]),
    ([], ["body"]),
    ("a house", ["body"]),
])
def test_a_bad_field_is_a_422_naming_it_as_for_predict(client, sent, loc):
    explained, predicted = client.post("/explain", json=sent), client.post("/predict", json=sent)
    assert explained.status_code == predicted.status_code == 422
    assert explained.json()["detail"][0]["loc"] == loc == predicted.json()["detail"][0]["loc"]


def test_too_many_records_is_a_422(client):
    answer = client.post("/explain", json=[{}] * (MAX_RECORDS + 1))
    assert answer.status_code == 422 and "At most 100 records" in answer.json()["detail"][0]["msg"]


def test_the_api_key_guards_explain(served):
    model, table = served
    with running(create_app(model, api_key="s3cret")) as base, httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/explain", json={}).status_code == 401
        assert http.post("/explain", json={}, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_the_openapi_document_describes_explain(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/explain"]["post"]
    assert {"200", "413", "422"} <= set(operation["responses"])
    assert "ExplainedRecord" in schema["components"]["schemas"]


def test_no_generated_request_to_explain_gets_a_5xx(url):
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operation = next(result.ok() for result in api.get_all_operations() if result.ok().label == "POST /explain")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        fuzz(operation, mode, failures, statuses)
    assert statuses[200] > 0 and statuses[422] > 0 and not any(status >= 500 for status in statuses)
    assert not failures, "\n\n".join(failures[:5])


@pytest.mark.parametrize("classes", [2, 3])
def test_a_classifier_explains_its_log_odds_beside_the_probability_predict_gives(classes):
    from tests.stages.test_training import classification

    table, case, plan = classification(200, classes=classes)
    pipeline = fitted("lightgbm", table, case, plan)
    model = trained(pipeline, case, plan, classes=list(pipeline.classes_))
    sent = {key: value for key, value in table.drop(columns="label").iloc[4].to_dict().items()}
    rows = json.loads(table.drop(columns="label").head(20).to_json(orient="records"))
    with running(create_app(model)) as base, httpx.Client(base_url=base, timeout=60) as http:
        explanation = http.post("/explain", json=sent).json()["explanation"]
        probabilities = http.post("/predict", json=sent).json()["probabilities"]
        answers = [each["answer"] for each in http.post("/explain", json=rows).json()["explanations"]]
        predicted = http.post("/predict", json=rows).json()["predictions"]
    assert explanation["value"] == pytest.approx(probabilities[explanation["output"]], rel=1e-6)
    assert answers == predicted and len(set(answers)) > 1  # the label /predict gives, whichever class is explained
    if classes == 2:
        assert explanation["scale"] == "log-odds of yes" and explanation.get("by_class") is None
    else:  # the predicted class, and every class beside it
        assert explanation["output"] == max(probabilities, key=probabilities.get)
        assert set(explanation["by_class"]) == set(probabilities)
        for label, each in explanation["by_class"].items():
            assert each["value"] == pytest.approx(probabilities[label], rel=1e-6)
            assert each["scale"] == f"softmax logit of {label}"


def test_a_hashed_personal_column_is_explained_hashed_as_it_is_predicted(monkeypatch):
    """Explaining takes predict's input path: the e-mail is hashed as in training, never echoed in clear."""
    import pandas as pd
    from lightgbm import LGBMRegressor
    from sklearn.pipeline import Pipeline

    from cairn.config.schema import Privacy
    from cairn.estimators.encoder import TabularEncoder
    from cairn.model.trained import FeatureSpec, TrainedModel
    from cairn.privacy import PiiColumn, protect_columns

    monkeypatch.setenv("CAIRN_SERVING_SALT", "test-salt")
    privacy = Privacy(pii="hash", salt_env="CAIRN_SERVING_SALT")
    found = [PiiColumn("owner_email", "email", "content", 1.0)]
    emails = [f"owner{i}@example.org" for i in range(5)]
    raw = pd.DataFrame({"owner_email": emails * 40, "rooms": np.random.default_rng(0).integers(1, 6, 200) * 1.0})
    price = raw["owner_email"].map({e: 100_000.0 * (i + 1) for i, e in enumerate(emails)}).to_numpy()
    pipeline = Pipeline([("encode", TabularEncoder(("rooms",), ("owner_email",))),
                         ("model", LGBMRegressor(n_estimators=40, min_child_samples=2, n_jobs=1, verbose=-1))])
    model = TrainedModel(name="owners", version=1, problem="regression", target="price",
                         features=[FeatureSpec("owner_email", "category"), FeatureSpec("rooms", "number")],
                         pipeline=pipeline, personal_columns=found, privacy=privacy)
    pipeline.fit(model.frame(protect_columns(raw, found=found, spec=privacy).table), price)
    records = [{"owner_email": email, "rooms": 3} for email in emails]
    explained = model.explain(records)
    assert np.allclose(explained.values[:, 0], model.predict(records), rtol=1e-6)
    assert np.ptp(explained.contributions[:, 0, 0]) > 200_000  # the hashed e-mail drives the answer
    with running(create_app(model)) as base, httpx.Client(base_url=base, timeout=30) as http:
        answer = http.post("/explain", json=records[0])
    assert answer.status_code == 200 and "owner0@example.org" not in answer.text
    assert answer.json()["explanation"]["value"] == pytest.approx(explained.values[0, 0], rel=1e-6)

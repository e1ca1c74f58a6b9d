"""The REST API, for real: a fitted Ames pipeline served by uvicorn on a free port and called with httpx."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from lightgbm import LGBMClassifier, LGBMRegressor
from pydantic import ValidationError
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import cairn.serving
from cairn.hashing import sha256_bytes
from cairn.model.bundle import bundle_files, manifest_bytes
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.serving import create_app, record_model
from cairn.serving.app import _choose_input, _input_builders
from cairn.serving.schemas import RecordValidator
from tests.servers import free_port

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
NUMBERS = ["Gr_Liv_Area", "Lot_Area", "Year_Built", "Total_Bsmt_SF", "Garage_Cars"]
CATEGORIES = ["Neighborhood", "Overall_Cond", "Central_Air", "Mas_Vnr_Type"]
API_KEY = "s3cret-key"


# fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


def feature_specs(table: pd.DataFrame) -> list[FeatureSpec]:
    specs = [FeatureSpec(name, "number", example=table[name].iloc[0].item()) for name in NUMBERS]
    specs += [FeatureSpec(name, "category", example=table[name].iloc[0],
                          levels=tuple(sorted(table[name].dropna().unique()))) for name in CATEGORIES]
    return specs


def column_transformer() -> ColumnTransformer:
    categories = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                           ("encode", OneHotEncoder(handle_unknown="ignore"))])
    return ColumnTransformer([("numbers", SimpleImputer(strategy="median"), NUMBERS),
                              ("categories", categories, CATEGORIES)])


@pytest.fixture(scope="module")
def model(ames: pd.DataFrame) -> TrainedModel:
    pipeline = Pipeline([("prepare", column_transformer()),
                         ("regress", LGBMRegressor(n_estimators=50, n_jobs=1, verbose=-1, random_state=0))])
    trained = TrainedModel(name="house-prices", version=3, problem="regression", target="Sale_Price",
                           features=feature_specs(ames), pipeline=pipeline, run_id=7,
                           metrics={"mape": 0.0912, "r2": 0.88})
    pipeline.fit(trained.frame(ames), ames["Sale_Price"])
    return trained


@pytest.fixture(scope="module")
def classifier(ames: pd.DataFrame) -> TrainedModel:
    pipeline = Pipeline([("prepare", column_transformer()),
                         ("classify", LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1, random_state=0))])
    expensive = np.where(ames["Sale_Price"] > ames["Sale_Price"].median(), "expensive", "cheap")
    trained = TrainedModel(name="pricey", version=1, problem="binary", target="Expensive",
                           features=feature_specs(ames), pipeline=pipeline, classes=["cheap", "expensive"])
    pipeline.fit(trained.frame(ames), expensive)
    return trained


def json_records(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as a client would send them: plain JSON values, null for missing."""
    return json.loads(table[columns].to_json(orient="records"))


def in_process(model: TrainedModel, records: list[dict[str, Any]]) -> np.ndarray:
    """What a notebook gets from the same records."""
    return model.predict(pd.DataFrame.from_records(records, columns=model.feature_names))


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """uvicorn on a free port in a background thread; yields the base URL, stops the server afterwards.

    Port 0 lets the kernel pick the port and uvicorn bind it (no race). Handing uvicorn a socket made with
    ``socket.socket()`` instead would cost ~40 ms a request: asyncio only sets TCP_NODELAY when the socket's
    proto is IPPROTO_TCP, so Nagle and delayed ACKs meet.
    """
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(model: TrainedModel) -> Iterator[httpx.Client]:
    with running(create_app(model)) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


# predictions -----------------------------------------------------------------------------------------------------
def test_one_record_is_predicted_as_in_process(client: httpx.Client, model: TrainedModel,
                                               ames: pd.DataFrame) -> None:
    record = json_records(ames.iloc[[10]], model.feature_names)[0]
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction", "prediction_id", "model", "version"}
    assert len(body["prediction_id"]) == 32 and int(body["prediction_id"], 16) >= 0  # a fresh uuid4 hex
    assert (body["model"], body["version"]) == ("house-prices", 3)
    assert isinstance(body["prediction"], float)
    assert np.allclose(body["prediction"], in_process(model, [record])[0])


def test_many_records_are_predicted_in_order(client: httpx.Client, model: TrainedModel,
                                             ames: pd.DataFrame) -> None:
    records = json_records(ames.sample(100, random_state=1), model.feature_names)  # > INLINE_ROWS: thread pool
    records[3]["Mas_Vnr_Type"] = None
    del records[4]["Gr_Liv_Area"]
    response = client.post("/predict", json=records)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"predictions", "prediction_ids", "model", "version"}
    assert len(body["predictions"]) == 100 and len(set(body["prediction_ids"])) == 100
    assert np.allclose(body["predictions"], in_process(model, records))


def test_a_small_batch_is_predicted_on_the_event_loop_too(client: httpx.Client, model: TrainedModel,
                                                          ames: pd.DataFrame) -> None:
    records = json_records(ames.iloc[:5], model.feature_names)
    response = client.post("/predict", json=records)
    assert response.status_code == 200
    assert np.allclose(response.json()["predictions"], in_process(model, records))


def test_an_unseen_category_is_predicted_not_rejected(client: httpx.Client, model: TrainedModel,
                                                      ames: pd.DataFrame) -> None:
    record = json_records(ames.iloc[[0]], model.feature_names)[0] | {"Neighborhood": "Atlantis"}
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    assert np.allclose(response.json()["prediction"], in_process(model, [record])[0])


def test_missing_fields_are_imputed(client: httpx.Client, model: TrainedModel) -> None:
    for record in ({}, {"Gr_Liv_Area": 1800}, {"Gr_Liv_Area": None, "Neighborhood": None}):
        response = client.post("/predict", json=record)
        assert response.status_code == 200, response.text
        assert np.allclose(response.json()["prediction"], in_process(model, [record])[0])


def test_a_number_sent_as_text_is_read_as_a_number(client: httpx.Client) -> None:
    as_text = client.post("/predict", json={"Gr_Liv_Area": "1800", "Neighborhood": "Edwards"}).json()
    as_number = client.post("/predict", json={"Gr_Liv_Area": 1800, "Neighborhood": "Edwards"}).json()
    assert as_text["prediction"] == as_number["prediction"]


def test_served_input_matches_the_model_frame(model: TrainedModel, ames: pd.DataFrame) -> None:
    """The frame the app builds from JSON is the frame ``TrainedModel.frame`` builds from the same records."""
    validator = RecordValidator(model.features)
    assert _choose_input(model, validator, validator.parse({})).__name__ == "frame"  # a ColumnTransformer
    records = json_records(ames.iloc[:20], model.feature_names)
    records[0]["Mas_Vnr_Type"] = None
    served = _input_builders(model, validator)["frame"](validator.parse(records))
    expected = model.frame(pd.DataFrame.from_records(records, columns=model.feature_names))
    # the same values; categories stay Python objects (model.frame may infer pandas' str dtype for them)
    pd.testing.assert_frame_equal(served, expected, check_dtype=False)
    assert all(served[name].dtype == np.dtype("float64") for name in NUMBERS)
    assert all(served[name].dtype == np.dtype(object) for name in CATEGORIES)


# validation ------------------------------------------------------------------------------------------------------
def predicted(model: TrainedModel, records: list[dict[str, Any]]) -> np.ndarray:
    """What the model answers for partial records, in process (missing fields imputed)."""
    return model.predict(pd.DataFrame.from_records(records, columns=model.feature_names))


def test_a_misspelt_field_is_ignored_with_a_suggestion(client: httpx.Client, model: TrainedModel) -> None:
    response = client.post("/predict", json={"Gr_Liv_Aera": 1500, "Neighborhood": "Edwards"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["warnings"] == ["ignored 1 field the model does not use: Gr_Liv_Aera",
                                  "ignored 'Gr_Liv_Aera': did you mean 'Gr_Liv_Area'?"]
    # ignored means ignored: the answer is the one for the record without it
    assert answer["prediction"] == pytest.approx(predicted(model, [{"Neighborhood": "Edwards"}])[0])


def test_a_field_with_no_close_name_is_ignored_without_a_suggestion(client: httpx.Client) -> None:
    answer = client.post("/predict", json={"colour": "red", "Gr_Liv_Area": 1500}).json()
    assert answer["warnings"] == ["ignored 1 field the model does not use: colour"]
    assert "warnings" not in client.post("/predict", json={"Gr_Liv_Area": 1500}).json()  # none: no key at all


def test_a_training_row_without_the_target_is_predicted(client: httpx.Client, model: TrainedModel,
                                                        ames: pd.DataFrame) -> None:
    """The whole training schema is accepted: columns the model does not use are ignored and counted."""
    row = json.loads(ames.iloc[:1].drop(columns="Sale_Price").to_json(orient="records"))[0]
    unused = [name for name in row if name not in model.feature_names]
    response = client.post("/predict", json=row)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["prediction"] == pytest.approx(model.predict(ames.iloc[:1])[0])
    first = answer["warnings"][0]
    assert first.startswith(f"ignored {len(unused)} fields the model does not use: {', '.join(unused[:5])} and "
                            f"{len(unused) - 5} more")
    assert len(answer["warnings"]) <= 6  # at most one "did you mean" per name shown


def test_ignored_fields_are_counted_per_batch_and_never_logged(model: TrainedModel) -> None:
    logged: list[Any] = []
    app = create_app(model, on_predictions=lambda records, predictions: logged.append(records))
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        records = [{"Gr_Liv_Area": 1500, "PID": 526301100, "note": "x" * 10_000},
                   {"Gr_Liv_Area": 900}, {"PID": 1, "Lot_Area": 8000}]
        answer = http.post("/predict", json=records).json()
        deadline = time.monotonic() + 10
        while not logged and time.monotonic() < deadline:
            time.sleep(0.05)
    assert answer["warnings"] == ["ignored 2 fields the model does not use: PID, note (in 2 of 3 records)"]
    assert answer["predictions"] == pytest.approx(predicted(
        model, [{"Gr_Liv_Area": 1500}, {"Gr_Liv_Area": 900}, {"Lot_Area": 8000}]).tolist())
    assert logged == [[{"Gr_Liv_Area": 1500}, {"Gr_Liv_Area": 900}, {"Lot_Area": 8000}]]


def test_an_ignored_field_name_is_clipped_and_redacted(client: httpx.Client) -> None:
    long_name = "Gr_Liv_Area" + "z" * 5_000
    answer = client.post("/predict", json={long_name: 1, "jane.doe@example.org": 2, "Lot_Area": 8000})
    assert answer.status_code == 200 and len(answer.content) < 1_000
    [warning] = answer.json()["warnings"]
    assert long_name[:100] + "\u2026" in warning and "z" * 101 not in warning
    assert "jane.doe" not in warning and "example.org" not in warning


def test_text_for_a_number_is_rejected_naming_the_field(client: httpx.Client) -> None:
    response = client.post("/predict", json={"Gr_Liv_Area": "large", "Neighborhood": "Edwards"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "Gr_Liv_Area"]
    assert error["type"] == "float_parsing"
    assert error["input"] == "large"
    assert "number" in error["msg"]


def test_every_bad_field_of_every_record_is_listed(client: httpx.Client) -> None:
    records = [{"Lot_Area": "big", "Year_Built": 1990},
               {"Neighborhood": 5.5, "Garage_Cars": True, "Overall_Cond": "Good"},
               "not a record",
               {"Total_Bsmt_SF": 1e400}]
    response = client.post("/predict", content=json.dumps(records).replace("Infinity", "1e400"),
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    found = {(tuple(error["loc"]), error["type"]) for error in response.json()["detail"]}
    assert found == {(("body", 0, "Lot_Area"), "float_parsing"),
                     (("body", 1, "Neighborhood"), "string_type"),
                     (("body", 1, "Garage_Cars"), "float_type"),
                     (("body", 2), "dict_type"),
                     (("body", 3, "Total_Bsmt_SF"), "finite_number")}


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ("5", ["body"], "dict_type"),
    ('"a record"', ["body"], "dict_type"),
    ("[]", ["body"], "too_short"),
    ("[1]", ["body", 0], "dict_type"),
    ('{"Gr_Liv_Area": 1500,', ["body", 21], "json_invalid"),
])
def test_a_body_that_is_not_records_is_a_422(client: httpx.Client, body: str, loc: list[Any], kind: str) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)


# classification --------------------------------------------------------------------------------------------------
def test_classification_answers_with_probabilities(classifier: TrainedModel, ames: pd.DataFrame) -> None:
    records = json_records(ames.iloc[:8], classifier.feature_names)
    frame = pd.DataFrame.from_records(records, columns=classifier.feature_names)
    expected_labels = classifier.predict(frame)
    expected_probabilities = classifier.predict_proba(frame)
    with running(create_app(classifier)) as url, httpx.Client(base_url=url) as http:
        one = http.post("/predict", json=records[0]).json()
        many = http.post("/predict", json=records).json()
    assert one["prediction"] == expected_labels[0]
    assert set(one["probabilities"]) == {"cheap", "expensive"}
    assert np.allclose([one["probabilities"]["cheap"], one["probabilities"]["expensive"]], expected_probabilities[0])
    assert many["predictions"] == expected_labels.tolist()
    served = np.array([[row["cheap"], row["expensive"]] for row in many["probabilities"]])
    assert np.allclose(served, expected_probabilities)
    assert np.allclose(served.sum(axis=1), 1.0)


# probes, metadata, schema ----------------------------------------------------------------------------------------
def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok", "model": "house-prices", "version": 3}
    ready = client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_a_model_that_cannot_predict_is_not_ready(model: TrainedModel) -> None:
    unfitted = TrainedModel(name="broken", version=1, problem="regression", target="Sale_Price",
                            features=model.features, pipeline=Pipeline([("prepare", column_transformer()),
                                                                        ("regress", LGBMRegressor())]))
    with running(create_app(unfitted)) as url, httpx.Client(base_url=url) as http:
        ready = http.get("/ready")
        assert http.get("/health").status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed" and "cannot predict" in ready.json()["detail"]


def test_metadata_describes_the_model(client: httpx.Client, model: TrainedModel) -> None:
    metadata = client.get("/metadata").json()
    assert {key: metadata[key] for key in ("name", "version", "problem", "target", "run_id", "metrics")} == {
        "name": "house-prices", "version": 3, "problem": "regression", "target": "Sale_Price", "run_id": 7,
        "metrics": {"mape": 0.0912, "r2": 0.88}}
    assert [feature["name"] for feature in metadata["features"]] == model.feature_names
    central_air = next(feature for feature in metadata["features"] if feature["name"] == "Central_Air")
    assert central_air == {"name": "Central_Air", "kind": "category", "levels": ["N", "Y"], "written_as": None}


def test_openapi_schema_lists_the_record_fields(client: httpx.Client, model: TrainedModel) -> None:
    schema = client.get("/openapi.json").json()
    record = schema["components"]["schemas"]["Record"]
    assert list(record["properties"]) == model.feature_names
    assert record["additionalProperties"] is True  # keys the model does not use are accepted and ignored
    prediction = schema["components"]["schemas"]["Prediction"]
    assert prediction["properties"]["warnings"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    assert {"type": "number"} in record["properties"]["Gr_Liv_Area"]["anyOf"]
    assert {"type": "string"} in record["properties"]["Central_Air"]["anyOf"]
    assert "N, Y" in record["properties"]["Central_Air"]["description"]
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Record"} in body["anyOf"]
    assert "422" in schema["paths"]["/predict"]["post"]["responses"]


def test_record_model_agrees_with_the_validator(model: TrainedModel) -> None:
    record_type = record_model(model.features)
    validator = RecordValidator(model.features)
    good = {"Gr_Liv_Area": 1500, "Lot_Area": "9000", "Neighborhood": "Edwards", "Central_Air": None}
    assert record_type.model_validate(good).model_dump(by_alias=True)["Lot_Area"] == 9000.0
    validator.parse(good)
    extra = {"Gr_Liv_Aera": 1500, "Gr_Liv_Area": 1200}  # both accept a key the model does not use
    assert record_type.model_validate(extra).model_dump(by_alias=True)["Gr_Liv_Area"] == 1200.0
    assert validator.parse(extra).numbers[0][0] == 1200.0
    for bad in ({"Gr_Liv_Area": "large"}, {"Neighborhood": 5.5}):
        with pytest.raises(ValidationError):
            record_type.model_validate(bad)
        with pytest.raises(RequestValidationError):
            validator.parse(bad)


def test_odd_feature_names_get_aliases_in_the_schema() -> None:
    features = [FeatureSpec("1st Flr SF", "number"), FeatureSpec("model_config", "category", levels=("a",))]
    properties = record_model(features).model_json_schema()["properties"]
    assert list(properties) == ["1st Flr SF", "model_config"]


# api key ---------------------------------------------------------------------------------------------------------
def test_api_key_guards_predict_and_metadata_but_not_the_probes(model: TrainedModel) -> None:
    with running(create_app(model, api_key=API_KEY)) as url, httpx.Client(base_url=url) as http:
        assert http.post("/predict", json={}).status_code == 401
        wrong = http.post("/predict", json={}, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401 and "Invalid API key" in wrong.json()["detail"]
        assert http.post("/predict", json={}, headers={"X-API-Key": API_KEY}).status_code == 200
        assert http.get("/metadata").status_code == 401
        assert http.get("/metadata", headers={"X-API-Key": API_KEY}).status_code == 200
        assert http.get("/health").status_code == 200
        assert http.get("/ready").status_code == 200
        security = http.get("/openapi.json", headers={"X-API-Key": API_KEY}).json()["paths"]["/predict"]["post"][
            "security"]
    assert security == [{"APIKeyHeader": []}]


def test_with_an_api_key_the_documentation_needs_it_too(model: TrainedModel) -> None:
    """/docs, /redoc and /openapi.json list every field with examples: behind the key when there is one."""
    with running(create_app(model, api_key=API_KEY)) as url, httpx.Client(base_url=url) as http:
        for path in ("/openapi.json", "/docs", "/redoc"):
            refused = http.get(path)
            assert refused.status_code == 401, path
            assert refused.json() == {"detail": "Missing API key: send it in the X-API-Key header"}
            assert "Gr_Liv_Area" not in refused.text
            assert http.get(path, headers={"X-API-Key": "guess"}).status_code == 401, path
        schema = http.get("/openapi.json", headers={"X-API-Key": API_KEY})
        docs = http.get("/docs", headers={"X-API-Key": API_KEY})
        redoc = http.get("/redoc", headers={"X-API-Key": API_KEY})
    assert schema.status_code == 200 and "Gr_Liv_Area" in schema.json()["components"]["schemas"]["Record"][
        "properties"]
    assert set(schema.json()["paths"]) == {"/predict", "/explain", "/feedback", "/health", "/ready", "/metadata",
                                           "/metrics"}  # not docs
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    assert redoc.status_code == 200 and "redoc" in redoc.text.lower() and "/openapi.json" in redoc.text
    with running(create_app(model)) as url, httpx.Client(base_url=url) as http:  # no key: open, as before
        assert [http.get(path).status_code for path in ("/openapi.json", "/docs", "/redoc")] == [200, 200, 200]


def test_an_empty_api_key_is_refused(model: TrainedModel) -> None:
    with pytest.raises(ValueError, match="api_key parameter of create_app"):
        create_app(model, api_key="")


# monitoring hook -------------------------------------------------------------------------------------------------
def test_predictions_are_reported_after_the_response(model: TrainedModel, ames: pd.DataFrame) -> None:
    reported: list[tuple[list[dict[str, Any]], list[Any]]] = []
    done = threading.Event()

    def on_predictions(records: list[dict[str, Any]], predictions: list[Any]) -> None:
        reported.append((records, predictions))
        done.set()

    records = json_records(ames.iloc[:3], model.feature_names)
    with running(create_app(model, on_predictions=on_predictions)) as url, httpx.Client(base_url=url) as http:
        served = http.post("/predict", json=records).json()["predictions"]
        assert done.wait(timeout=10)
        assert http.post("/predict", json={"Gr_Liv_Area": "x"}).status_code == 422
    assert reported == [(records, served)]  # the rejected request was not reported


def test_a_failing_hook_does_not_fail_the_request(model: TrainedModel) -> None:
    def on_predictions(records: list[dict[str, Any]], predictions: list[Any]) -> None:
        raise RuntimeError("log store is down")

    with running(create_app(model, on_predictions=on_predictions)) as url, httpx.Client(base_url=url) as http:
        assert http.post("/predict", json={}).status_code == 200
        assert http.post("/predict", json={}).status_code == 200


# cairn's own encoder: the column-array path --------------------------------------------------------------------
def test_a_pipeline_that_reads_column_arrays_is_served_the_same(ames: pd.DataFrame) -> None:
    from cairn.estimators.encoder import TabularEncoder

    pipeline = Pipeline([("encode", TabularEncoder(tuple(NUMBERS), tuple(CATEGORIES))),
                         ("regress", LGBMRegressor(n_estimators=50, n_jobs=1, verbose=-1, random_state=0))])
    trained = TrainedModel(name="house-prices", version=4, problem="regression", target="Sale_Price",
                           features=feature_specs(ames), pipeline=pipeline)
    pipeline.fit(trained.frame(ames), ames["Sale_Price"])
    records = json_records(ames.iloc[:30], trained.feature_names)
    records[0]["Neighborhood"] = "Atlantis"
    validator = RecordValidator(trained.features)
    assert _choose_input(trained, validator, validator.parse(records[1])).__name__ == "columns"
    with running(create_app(trained)) as url, httpx.Client(base_url=url) as http:
        served = [http.post("/predict", json=record).json()["prediction"] for record in records[:5]]
        batch = http.post("/predict", json=records).json()["predictions"]
    assert np.allclose(served, trained.predict(records[:5]))
    assert np.allclose(batch, trained.predict(pd.DataFrame.from_records(records)))


# latency and serve() ---------------------------------------------------------------------------------------------
def serve_bundle_in_subprocess(model: TrainedModel, folder: Path, *, api_key: str | None = None
                               ) -> tuple[subprocess.Popen[bytes], str]:
    """The bundle's files written as the store keeps them (named by sha256), loaded and served by `serve` in a
    subprocess as `cairn serve` does: (the process, its base URL) once /ready answers."""
    files = bundle_files(model)
    for data in [*files.values(), manifest_bytes(files)]:
        (folder / sha256_bytes(data)).write_bytes(data)
    port = free_port()
    script = ("import sys; from pathlib import Path; from cairn.model.bundle import load_bundle; "
              "from cairn.serving import serve; folder = Path(sys.argv[1]); "
              f"model = load_bundle('{sha256_bytes(manifest_bytes(files))}', lambda sha: (folder / sha).read_bytes(), "
              "what='test'); "
              f"serve(model, port={port}, api_key={api_key!r})")
    source = str(Path(cairn.serving.__file__).resolve().parents[2])
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
                        "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", script, str(folder)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve() did not come up: {process.communicate()[1].decode()[-2000:]}")
        time.sleep(0.1)


def test_serve_runs_the_api_with_uvicorn(model: TrainedModel, tmp_path: Path) -> None:
    process, url = serve_bundle_in_subprocess(model, tmp_path, api_key="k")
    try:
        with httpx.Client(base_url=url) as http:
            assert http.get("/health").json()["version"] == 3
            assert http.post("/predict", json={}).status_code == 401
            assert http.post("/predict", json={}, headers={"X-API-Key": "k"}).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert b"INFO" not in stderr  # log level warning: no per-request or startup chatter


def test_error_messages_do_not_echo_personal_data(client):
    answer = client.post("/predict", json={"owner_email": "jane.doe@example.org", "Gr_Liv_Area": "555-12-3456"})
    assert answer.status_code == 422
    assert "jane.doe@example.org" not in answer.text and "555-12-3456" not in answer.text


def test_hashed_personal_columns_are_hashed_at_serving_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PII column kept as a hashed feature: the API must hash requests exactly as training did."""
    from cairn.config.schema import Privacy
    from cairn.estimators.encoder import TabularEncoder
    from cairn.privacy import PiiColumn, protect_columns

    monkeypatch.setenv("CAIRN_SERVING_SALT", "test-salt")
    privacy = Privacy(pii="hash", salt_env="CAIRN_SERVING_SALT")
    found = [PiiColumn("owner_email", "email", "content", 1.0)]
    emails = [f"owner{i}@example.org" for i in range(5)]
    rooms = np.random.default_rng(0).integers(1, 6, 200).astype(float)  # independent of the owner
    raw = pd.DataFrame({"owner_email": emails * 40, "rooms": rooms})
    price = raw["owner_email"].map({e: 100_000.0 * (i + 1) for i, e in enumerate(emails)}).to_numpy()
    hashed = protect_columns(raw, found=found, spec=privacy).table
    features = [FeatureSpec("owner_email", "category"), FeatureSpec("rooms", "number")]
    pipeline = Pipeline([("encode", TabularEncoder(("rooms",), ("owner_email",))),
                         ("model", LGBMRegressor(n_estimators=40, min_child_samples=2, n_jobs=1, verbose=-1))])
    trained = TrainedModel(name="owners", version=1, problem="regression", target="price", features=features,
                           pipeline=pipeline, personal_columns=found, privacy=privacy)
    pipeline.fit(trained.frame(hashed), price)
    assert trained.protected(raw)["owner_email"].tolist() == hashed["owner_email"].tolist()  # what monitor compares
    records = [{"owner_email": email, "rooms": 3} for email in emails]
    expected = trained.predict(records)
    assert expected.max() - expected.min() > 200_000  # the hashed e-mail really drives the prediction
    with running(create_app(trained)) as url, httpx.Client(base_url=url, timeout=30) as http:
        served = http.post("/predict", json=records).json()["predictions"]
    assert np.allclose(served, expected)


def test_the_bundle_input_schema_is_the_apis_record_schema(model: TrainedModel) -> None:
    """model.json describes one record exactly as /predict takes it: the same fields and types, extras allowed."""
    from cairn.model.bundle import input_schema

    described = input_schema(model.features)
    served = record_model(model.features).model_json_schema()
    assert set(described["properties"]) == set(served["properties"])
    assert described["additionalProperties"] is True and served["additionalProperties"] is True
    for name, spec in served["properties"].items():
        served_types = {option.get("type") for option in spec.get("anyOf", [spec])}
        assert served_types == set(described["properties"][name]["type"]), name


# hostile input: overflow, depth, size -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def log_target_model(ames: pd.DataFrame) -> TrainedModel:
    """A linear model of the log-price, as cairn builds it: it extrapolates, and expm1 of a huge log overflows."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    from cairn.estimators.target_transforms import expm1_target, log1p_target

    pipeline = TransformedTargetRegressor(regressor=Pipeline([("prepare", column_transformer()), ("ridge", Ridge())]),
                                          func=log1p_target, inverse_func=expm1_target, check_inverse=False)
    trained = TrainedModel(name="log-prices", version=1, problem="regression", target="Sale_Price",
                           features=feature_specs(ames), pipeline=pipeline)
    pipeline.fit(trained.frame(ames), ames["Sale_Price"])
    return trained


def test_a_value_that_makes_the_answer_overflow_is_a_422_naming_the_field(log_target_model: TrainedModel,
                                                                         ames: pd.DataFrame) -> None:
    record = json_records(ames.iloc[[10]], log_target_model.feature_names)[0]
    assert np.isinf(in_process(log_target_model, [{**record, "Gr_Liv_Area": 1e30}])[0])  # expm1 really overflows
    with running(create_app(log_target_model)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/ready").json() == {"status": "ready"}
        one = http.post("/predict", json={**record, "Gr_Liv_Area": 1e30})
        many = http.post("/predict", json=[record, {**record, "Total_Bsmt_SF": 1e300}, record])
        both = http.post("/predict", json={**record, "Gr_Liv_Area": 1e30, "Lot_Area": 1e300})
        fine = http.post("/predict", json=record)
    assert one.status_code == 422
    [error] = one.json()["detail"]
    assert error["loc"] == ["body", "Gr_Liv_Area"] and error["type"] == "value_out_of_range"
    assert error["input"] == 1e30
    assert error["msg"].startswith("Value 1e+30 is far outside the values the model was trained on")
    assert many.status_code == 422
    assert [item["loc"] for item in many.json()["detail"]] == [["body", 1, "Total_Bsmt_SF"]]
    assert both.status_code == 422  # each alone overflows: both named
    assert sorted(item["loc"][-1] for item in both.json()["detail"]) == ["Gr_Liv_Area", "Lot_Area"]
    assert fine.status_code == 200
    assert fine.json()["prediction"] == pytest.approx(in_process(log_target_model, [record])[0])


def test_a_non_finite_answer_no_field_explains_is_a_422_for_the_record(ames: pd.DataFrame) -> None:
    """A model whose answer is NaN whatever it is sent: the record is refused with a clear message, never a 500."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.dummy import DummyRegressor

    pipeline = TransformedTargetRegressor(regressor=Pipeline([("prepare", column_transformer()),
                                                              ("constant", DummyRegressor())]),
                                          func=np.log1p, inverse_func=lambda values: values * np.nan,
                                          check_inverse=False)
    trained = TrainedModel(name="broken", version=1, problem="regression", target="Sale_Price",
                           features=feature_specs(ames), pipeline=pipeline)
    pipeline.fit(trained.frame(ames), ames["Sale_Price"])
    with running(create_app(trained)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/ready").json()["status"] == "failed"  # its warm-up answer is not a number either
        answer = http.post("/predict", json=[{"Gr_Liv_Area": 1500}, {}])
    assert answer.status_code == 422
    assert [item["loc"] for item in answer.json()["detail"]] == [["body", 0], ["body", 1]]
    assert all("not a finite number" in item["msg"] for item in answer.json()["detail"])


def test_a_deeply_nested_array_is_a_422_not_a_500(client: httpx.Client) -> None:
    deep = client.post("/predict", content=b"[" * 100_000 + b"]" * 100_000,
                       headers={"Content-Type": "application/json"})
    assert deep.status_code == 422
    [error] = deep.json()["detail"]
    assert error["type"] == "json_invalid" and "nested too deeply" in error["msg"]
    nested = client.post("/predict", content=b"[" * 900 + b"]" * 900,  # parses: each record is not an object
                         headers={"Content-Type": "application/json"})
    assert nested.status_code == 422
    [error] = nested.json()["detail"]
    assert error["loc"] == ["body", 0] and error["input"] == "[" * 100 + "\u2026"


def test_errors_echo_at_most_a_hundred_characters_of_any_value(client: httpx.Client) -> None:
    long_text = "7" * 500_000 + "x"  # a 500 KB bad number
    long_name = "Gr_Liv_Area" + "z" * 5_000
    answer = client.post("/predict", json=[{"Gr_Liv_Area": long_text, long_name: 1, "Neighborhood": ["a"] * 10_000},
                                           list(range(50_000))])
    assert answer.status_code == 422
    assert len(answer.content) < 3_000
    errors = {tuple(item["loc"][1:]): item for item in answer.json()["detail"]}
    assert errors[(0, "Gr_Liv_Area")]["input"] == "7" * 100 + "\u2026"
    assert not any(len(loc) > 1 and loc[1].startswith("Gr_Liv_Areaz") for loc in errors)  # ignored, not an error
    assert errors[(0, "Neighborhood")]["input"] == json.dumps(["a"] * 10_000, separators=(",", ":"))[:100] + "\u2026"
    assert errors[(1,)]["input"].startswith("[0,1,2,3") and len(errors[(1,)]["input"]) == 101
    for item in answer.json()["detail"]:
        assert len(item["msg"]) < 200
    short = client.post("/predict", json={"Gr_Liv_Area": "big", "Neighborhood": ["a", "b"]})
    assert {item["loc"][-1]: item["input"] for item in short.json()["detail"]} == {
        "Gr_Liv_Area": "big", "Neighborhood": ["a", "b"]}  # short values are echoed as they were sent


def test_a_body_over_the_limit_is_a_413(model: TrainedModel, ames: pd.DataFrame) -> None:
    records = json_records(ames, model.feature_names) * 3
    body = json.dumps(records).encode()
    assert len(body) > 1024 * 1024
    fitting = records[:len(records) * 900_000 // len(body)]
    assert 800_000 < len(json.dumps(fitting)) < 1024 * 1024
    limit_text = "larger than this server accepts (1,048,576 bytes)"
    with running(create_app(model)) as url, httpx.Client(base_url=url, timeout=30) as http:  # the default: 1 MiB
        declared = http.post("/predict", content=body, headers={"Content-Type": "application/json"})
        streamed = http.post("/predict", content=iter([body[:500_000], body[500_000:]]),  # chunked: no length
                             headers={"Content-Type": "application/json"})
        under = http.post("/predict", content=json.dumps(fitting).encode(),
                          headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and limit_text in declared.json()["detail"]
    assert streamed.status_code == 413 and limit_text in streamed.json()["detail"]
    assert under.status_code == 200 and len(under.json()["predictions"]) == len(fitting)
    with running(create_app(model, max_body_bytes=2_000)) as url, httpx.Client(base_url=url, timeout=30) as http:
        small = http.post("/predict", json=records[:3])
        chunked = http.post("/predict", content=(json.dumps(record).encode() for record in records[:50]),
                            headers={"Content-Type": "application/json"})
        big = http.post("/predict", json=records[:50])
        after = http.post("/predict", json=records[:3])
    assert small.status_code == 200
    assert chunked.status_code == 413 and "(2,000 bytes)" in chunked.json()["detail"]
    assert big.status_code == 413 and "(2,000 bytes)" in big.json()["detail"]
    assert after.status_code == 200  # the server is still fine


def test_a_bad_body_limit_is_refused(model: TrainedModel) -> None:
    with pytest.raises(ValueError, match="max_body_bytes parameter of create_app"):
        create_app(model, max_body_bytes=0)
    with pytest.raises(ValueError, match="max_batch parameter of create_app"):
        create_app(model, max_batch=0)


def test_more_records_than_the_batch_limit_is_a_413_naming_both_counts(model: TrainedModel,
                                                                        ames: pd.DataFrame) -> None:
    records = json_records(ames, model.feature_names)[:30]
    with running(create_app(model, max_batch=25)) as url, httpx.Client(base_url=url, timeout=30) as http:
        over = http.post("/predict", json=records)
        explained = http.post("/explain", json=records)
        at_limit = http.post("/predict", json=records[:25])
    assert over.status_code == 413 and explained.status_code == 413
    assert "holds 30 records" in over.json()["detail"] and "at most 25 per request" in over.json()["detail"]
    assert "deployment.max_batch" in over.json()["detail"]
    assert at_limit.status_code == 200 and len(at_limit.json()["predictions"]) == 25


def test_the_limits_come_from_the_project_file(tmp_path) -> None:
    from cairn.config.schema import Deployment

    spec = Deployment(max_body_mb=0.5, max_batch=200)
    assert (spec.max_body_bytes, spec.max_batch) == (524_288, 200)
    assert Deployment().max_body_bytes == 1024 * 1024 and Deployment().max_batch == 10_000


# start-up checks --------------------------------------------------------------------------------------------------
def hashed_owner_model() -> TrainedModel:
    """A model that reads an e-mail column hashed with the salt in CAIRN_SERVING_SALT."""
    from cairn.config.schema import Privacy
    from cairn.estimators.encoder import TabularEncoder
    from cairn.privacy import PiiColumn

    privacy = Privacy(pii="hash", salt_env="CAIRN_SERVING_SALT")
    features = [FeatureSpec("owner_email", "category"), FeatureSpec("rooms", "number")]
    pipeline = Pipeline([("encode", TabularEncoder(("rooms",), ("owner_email",))),
                         ("model", LGBMRegressor(n_estimators=5, min_child_samples=2, n_jobs=1, verbose=-1))])
    trained = TrainedModel(name="owners", version=1, problem="regression", target="price", features=features,
                           pipeline=pipeline, personal_columns=[PiiColumn("owner_email", "email", "content", 1.0)],
                           privacy=privacy)
    rows = pd.DataFrame({"owner_email": [f"{i:016x}" for i in range(20)], "rooms": np.arange(20.0)})
    pipeline.fit(trained.frame(rows), np.arange(20.0) * 1000)
    return trained


def test_a_model_with_hashed_columns_is_not_served_without_its_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.errors import ConfigError

    monkeypatch.delenv("CAIRN_SERVING_SALT", raising=False)
    trained = hashed_owner_model()
    with pytest.raises(ConfigError) as refused:
        create_app(trained)
    text = str(refused.value)
    assert text.startswith("The salt for hashing personal data is not set, so owners v1 cannot hash")
    assert "export CAIRN_SERVING_SALT=" in text and "unset" in text
    with pytest.raises(ConfigError, match="salt for hashing personal data is not set"):
        cairn.serving.serve(trained, port=free_port())  # refused before binding
    monkeypatch.setenv("CAIRN_SERVING_SALT", "")
    with pytest.raises(ConfigError, match="an empty value"):
        create_app(trained)
    monkeypatch.setenv("CAIRN_SERVING_SALT", "test-salt")
    with running(create_app(trained)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/ready").json() == {"status": "ready"}
        assert http.post("/predict", json={"owner_email": "a@example.org", "rooms": 3}).status_code == 200



@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org", ""])
def test_serving_beyond_loopback_needs_a_key_or_insecure(model: TrainedModel, host: str) -> None:
    from cairn.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        cairn.serving.serve(model, host=host, port=free_port())
    text = str(refused.value)
    assert "without an API key" in text and "deployment.api_key_env" in text and "--insecure" in text


def test_loopback_needs_no_key_and_insecure_warns(model: TrainedModel) -> None:
    from cairn.serving.startup import check_exposure, is_loopback

    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "", "10.0.0.1", "example.org"))
    check_exposure("127.0.0.1", api_key=None, insecure=False)
    check_exposure("0.0.0.0", api_key=API_KEY, insecure=False)
    check_exposure("0.0.0.0", api_key=None, insecure=True)


# numbers the training data wrote as text ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written() -> tuple[TrainedModel, pd.DataFrame]:
    """A model of a date and an income the training data wrote as text ('2019-03-07', '$45,200'), and its rows
    as the file wrote them."""
    rng = np.random.default_rng(0)
    days = rng.integers(17_800, 18_500, size=300)
    income = rng.integers(20, 90, size=300) * 1_000
    table = pd.DataFrame({"sold": pd.to_datetime(days, unit="D").strftime("%Y-%m-%d"),
                          "income": [f"${value:,}" for value in income],
                          "region": rng.choice(["north", "south"], size=300)})
    y = (days - 17_800) * 10.0 + income / 100 + np.where(table["region"] == "north", 500.0, 0.0)
    features = [FeatureSpec("sold", "number", example="2019-01-04", parse="date"),
                FeatureSpec("income", "number", example="$45,200", parse="text_number", low=20_000.0, high=89_000.0),
                FeatureSpec("region", "category", example="north", levels=("north", "south"))]
    prepare = ColumnTransformer([("numbers", SimpleImputer(strategy="median"), ["sold", "income"]),
                                 ("categories", OneHotEncoder(handle_unknown="ignore"), ["region"])])
    pipeline = Pipeline([("prepare", prepare),
                         ("regress", LGBMRegressor(n_estimators=40, n_jobs=1, verbose=-1, random_state=0))])
    trained = TrainedModel(name="written", version=1, problem="regression", target="price", features=features,
                           pipeline=pipeline)
    pipeline.fit(trained.frame(table), y)
    return trained, table


def test_dates_and_numbers_written_as_text_are_served_as_training_read_them(
        written: tuple[TrainedModel, pd.DataFrame]) -> None:
    """A training row minus its target is a valid request, dates and '$45,200' included: /predict reads them as
    `cairn predict` and `model.predict` do, a date may also come as days since 1970, and text that does not read
    is imputed, as in training, with a warning naming the field."""
    model, table = written
    rows = json.loads(table.head(20).to_json(orient="records"))
    with running(create_app(model)) as url, httpx.Client(base_url=url) as http:
        answer = http.post("/predict", json=rows)
        assert answer.status_code == 200, answer.text
        assert np.allclose(answer.json()["predictions"], in_process(model, rows))
        as_days = http.post("/predict", json={"sold": 17_900, "income": 45_200, "region": "north"}).json()
        as_text = http.post("/predict", json={"sold": "2019-01-04", "income": "$45,200", "region": "north"}).json()
        assert as_days["prediction"] == pytest.approx(as_text["prediction"])  # 17,900 days after 1970-01-01
        unread = http.post("/predict", json={"sold": "soon", "income": "lots", "region": "north"})
        assert unread.status_code == 200
        assert unread.json()["prediction"] == pytest.approx(
            float(in_process(model, [{"sold": None, "income": None, "region": "north"}])[0]))
        warnings = unread.json()["warnings"]
        assert "sold: 1 value did not read as a date, such as 'soon'; the model imputed it, as training did" in warnings
        assert any(w.startswith("income: 1 value did not read as a number") for w in warnings)
        # offsets that differ within one body (pandas alone: 'Mixed timezones detected', a 500)
        mixed = http.post("/predict", json=[{"sold": "2018-11-16T10:00:00+02:00"}, {"sold": "2018-11-16"},
                                             {"sold": "2018-11-16T08:00:00Z"}])
        assert mixed.status_code == 200, mixed.text
        first, second, third = mixed.json()["predictions"]
        assert first == pytest.approx(third)  # the same instant
        quiet = http.post("/predict", json={"income": "N/A", "sold": ""}).json()  # missing as in training, no word
        assert "warnings" not in quiet or quiet["warnings"] is None
        huge = http.post("/predict", json=[{"income": "1e400"}])  # read after the whole body: still a 422
        assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["body", 0, "income"]
        clipped = http.post("/predict", json={"income": "$1,000,000"}).json()  # read, then clipped to the range
        assert any("income" in w and "training range" in w for w in clipped["warnings"])
        far = http.post("/predict", json={"sold": "9999-12-31"})  # an open end: far ahead, not wrapped to 1816
        assert far.status_code == 200
        many = json.loads(table.head(100).to_json(orient="records"))  # past INLINE_ROWS: read in the thread pool
        assert np.allclose(http.post("/predict", json=many).json()["predictions"], in_process(model, many))
        many[70]["income"] = "1e400"
        refused = http.post("/predict", json=many)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", 70, "income"]
        described = {f["name"]: f["written_as"] for f in http.get("/metadata").json()["features"]}
        assert described == {"sold": "date", "income": "text_number", "region": None}
        properties = http.get("/openapi.json").json()["components"]["schemas"]["Record"]["properties"]
    assert {"type": "string"} in properties["sold"]["anyOf"] and {"type": "number"} in properties["sold"]["anyOf"]
    assert properties["sold"]["examples"] == ["2019-01-04"] and "date" in properties["sold"]["description"]
    assert record_model(model.features).model_validate(rows[0]).model_dump()["income"] == rows[0]["income"]
    with pytest.raises(RequestValidationError):  # a plain number is still strict
        RecordValidator([FeatureSpec("area", "number")]).parse({"area": "large"})


def test_a_json_boolean_is_the_level_a_boolean_column_had() -> None:
    """A CSV column of True/False is a category of levels 'True' and 'False': /predict answered 422 to
    {"driveway": true}, which the Python API takes; a boolean for any other category is still an error."""
    features = [FeatureSpec("driveway", "category", levels=("False", "True")),
                FeatureSpec("airco", "category", levels=("no", "yes")),
                FeatureSpec("garage", "category", levels=("false", "true", "(missing)"))]
    validator = RecordValidator(features)
    assert validator.parse({"driveway": True, "garage": False}).categories == [["True", math.nan, "false"]]
    with pytest.raises(RequestValidationError):
        validator.parse({"airco": True})
    record_type = record_model(features)
    assert record_type.model_validate({"driveway": False}).model_dump()["driveway"] is False
    with pytest.raises(ValidationError):
        record_type.model_validate({"airco": True})


def test_a_whole_number_sent_as_a_float_is_a_category_level() -> None:
    """A client posting a frame with a gap sends 98115.0 for the postal code 98115: the level, as the Python API
    reads it; a fraction is still no category."""
    validator = RecordValidator([FeatureSpec("zip", "category", levels=("98115", "98103"))])
    assert validator.parse({"zip": 98115.0}).categories == [["98115.0"]]  # the encoder reads it as '98115'
    assert validator.parse({"zip": 98103}).categories == [["98103"]]
    with pytest.raises(RequestValidationError):
        validator.parse({"zip": 98115.5})


def test_levels_training_never_had_are_named_per_field_and_counted_over_the_records() -> None:
    """The validator of a model served from a project holds its training levels: a level outside them is a
    warning in `cairn predict`'s words (masked, the reading said); a whole number in either spelling, a known level
    spelt otherwise and a missing value are none; a personal column's levels are never checked here."""
    from cairn.monitoring.unseen import READINGS, TrainingLevels

    features = [FeatureSpec("zone", "category"), FeatureSpec("zip", "category"), FeatureSpec("air", "category"),
                FeatureSpec("email", "category")]
    levels = TrainingLevels({"zone": frozenset({"north", "south"}), "zip": frozenset({"98115"}),
                             "air": frozenset({"yes", "no"}), "email": frozenset({"hashed"})}, True,
                            {name: READINGS["rare"] for name in ("zone", "zip", "air", "email")}, frozenset({"email"}))
    validator = RecordValidator(features, levels=levels)
    parsed = validator.parse([{"zone": " NORTH ", "zip": 98115.0, "air": "maybe", "email": "someone@example.com"},
                              {"zone": "Atlantis", "zip": "98199", "air": None},
                              {"zone": "Atlantis", "air": "yes"}])
    assert parsed.warnings == (
        "zone: 2 rows have levels the training split never had, such as 'Atlantis'; the model reads them "
        + READINGS["rare"],
        "zip: 1 row has a level the training split never had, such as '98199'; the model reads it " + READINGS["rare"],
        "air: 1 row has a level the training split never had, such as 'maybe'; the model reads it " + READINGS["rare"])
    assert RecordValidator(features).parse({"zone": "Atlantis"}).warnings == ()  # no levels: not checked

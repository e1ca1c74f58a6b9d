"""Fuzzing the running service: schemathesis against its own OpenAPI document, then hostile bodies by hand.

The service is the real one: ``create_app`` on uvicorn, on a free loopback port, called over HTTP. The promise
checked is about behaviour, not exact error shapes: no request, however odd, gets a 5xx; where the OpenAPI document
describes a response, the response conforms to it; a body over the limit is a 413; a body that is not records is a
4xx.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from lightgbm import LGBMRegressor
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.serving import create_app
from cairn.serving.payloads import MAX_BODY_BYTES
from tests.serving.test_app import running

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
NUMBERS = ["Gr_Liv_Area", "Lot_Area", "Year_Built"]
CATEGORIES = ["Neighborhood", "Central_Air"]
JSON = {"Content-Type": "application/json"}
# checks that pin which bodies must be refused or accepted, not whether the service behaves
BEHAVIOUR_ONLY = [negative_data_rejection, positive_data_acceptance]


def small_model() -> TrainedModel:
    """A small fitted regression pipeline on a few Ames columns: numbers imputed, categories one-hot encoded."""
    table = pd.read_csv(AMES, nrows=600)
    specs = [FeatureSpec(name, "number", example=table[name].iloc[0].item()) for name in NUMBERS]
    specs += [FeatureSpec(name, "category", example=table[name].iloc[0],
                          levels=tuple(sorted(table[name].dropna().unique()))) for name in CATEGORIES]
    categories = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                           ("encode", OneHotEncoder(handle_unknown="ignore"))])
    prepare = ColumnTransformer([("numbers", SimpleImputer(strategy="median"), NUMBERS),
                                 ("categories", categories, CATEGORIES)])
    pipeline = Pipeline([("prepare", prepare),
                         ("regress", LGBMRegressor(n_estimators=20, n_jobs=1, verbose=-1, random_state=0))])
    trained = TrainedModel(name="house-prices", version=1, problem="regression", target="Sale_Price",
                           features=specs, pipeline=pipeline, run_id=1)
    pipeline.fit(trained.frame(table), table["Sale_Price"])
    return trained


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running(create_app(small_model())) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


# schemathesis ----------------------------------------------------------------------------------------------------
EXAMPLES = 50  # per operation and per generation mode: the whole test takes well under a minute


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, failures: list[str],
         statuses: Counter[int]) -> None:
    """EXAMPLES generated requests for one operation (derandomized: the same requests on every run), each sent to
    the running server and checked; a failure is noted and the next request goes on."""

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        try:
            response = case.call(timeout=30)
            statuses[response.status_code] += 1
            case.validate_response(response, excluded_checks=BEHAVIOUR_ONLY)
        except AssertionError as failure:  # schemathesis' FailureGroup is an AssertionError
            failures.append(f"{operation.label} ({mode}): {str(failure)[:1500]}")

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid: a GET with no parameters has no negative case
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_generated_request_gets_a_5xx_and_answers_follow_the_schema(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation of the OpenAPI document, with requests that fit it and requests that do not: schemathesis'
    checks (no 5xx, status codes, content types and bodies as the document describes them), except those that pin
    which invalid input must be refused: what /predict accepts is a choice the API may widen."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert "POST /predict" in {operation.label for operation in operations}
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, failures, statuses)
    print(f"\nschemathesis: {len(operations)} operations x 2 modes x up to {EXAMPLES} requests in "
          f"{time.perf_counter() - started:.1f} s; statuses {dict(sorted(statuses.items()))}")
    # the GETs take no input (one request each); /predict gets EXAMPLES fitting bodies and EXAMPLES unfitting ones
    assert sum(statuses.values()) >= 2 * EXAMPLES and statuses[200] > 0 and statuses[422] > 0
    assert not failures, "\n\n".join(failures[:10])


# hostile bodies --------------------------------------------------------------------------------------------------
def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HOSTILE: dict[str, tuple[bytes, dict[str, str], set[int]]] = {
    # name: (body, headers, the statuses that are right)
    "2 MiB string": (b'{"Neighborhood": "' + b"x" * (2 * MAX_BODY_BYTES) + b'"}', JSON, {413}),
    "10 MB bad number": (b'{"Gr_Liv_Area": ' + b"9" * 10_000_000 + b"}", JSON, {413}),
    "100,000-deep array": (nested(100_000), JSON, {422}),
    "NaN literal": (b'{"Gr_Liv_Area": NaN}', JSON, {200, 422}),
    "Infinity literal": (b'{"Gr_Liv_Area": Infinity}', JSON, {200, 422}),
    "-Infinity in a batch": (b'[{"Lot_Area": -Infinity}, {"Gr_Liv_Area": 1500}]', JSON, {200, 422}),
    "10,000 empty records": (b"[" + b",".join([b"{}"] * 10_000) + b"]", JSON, {200, 413, 422}),
    "non-UTF-8 bytes": (b'{"Neighborhood": "\xff\xfe\xc3\x28"}', JSON, {400, 422}),
    "non-UTF-8 garbage": (bytes(range(128, 256)) * 4, JSON, {400, 422}),
    "text/plain": (b'{"Gr_Liv_Area": 1500}', {"Content-Type": "text/plain"}, {200, 415, 422}),
    "form encoding": (b"Gr_Liv_Area=1500", {"Content-Type": "application/x-www-form-urlencoded"}, {415, 422}),
    "no content type": (b'{"Gr_Liv_Area": 1500}', {}, {200, 415, 422}),
    "empty body": (b"", JSON, {400, 422}),
    "JSON null": (b"null", JSON, {422}),
    "empty array": (b"[]", JSON, {422}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_body_is_never_a_5xx(client: httpx.Client, name: str) -> None:
    body, headers, expected = HOSTILE[name]
    started = time.perf_counter()
    answer = client.post("/predict", content=body, headers=headers)
    took = time.perf_counter() - started
    assert answer.status_code < 500, f"{name}: {answer.status_code} {answer.text[:300]}"
    assert answer.status_code in expected, f"{name}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("application/json")
    answer.json()  # the answer is JSON, even to a body that was not
    assert len(answer.content) < 2 * MAX_BODY_BYTES  # bounded: no echo of a huge body
    assert took < 30


def test_ten_thousand_empty_records_get_a_bounded_answer(client: httpx.Client) -> None:
    answer = client.post("/predict", content=b"[" + b",".join([b"{}"] * 10_000) + b"]", headers=JSON)
    assert answer.status_code < 500
    if answer.status_code == 200:
        assert len(answer.json()["predictions"]) == 10_000
    assert len(answer.content) < 1_000_000


def test_a_chunked_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    """No Content-Length to refuse early on: the limit holds while the chunks are read."""
    def chunks() -> Iterator[bytes]:
        yield b'{"Neighborhood": "'
        for _ in range(40):
            yield b"x" * 65_536
        yield b'"}'

    answer = client.post("/predict", content=chunks(), headers=JSON)
    assert answer.status_code == 413


def test_the_service_still_answers_after_the_hostile_bodies(client: httpx.Client) -> None:
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json={"Gr_Liv_Area": 1500, "Neighborhood": "Edwards"}).status_code == 200

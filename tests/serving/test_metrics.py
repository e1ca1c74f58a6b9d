"""``GET /metrics`` over a real server, scraped and parsed as Prometheus parses it."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cairn.model.trained import TrainedModel
from cairn.serving import create_app
from tests.serving.test_app import running
from tests.serving.test_fuzz import small_model


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return small_model()


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and sorted labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_requests_latency_predictions_errors_and_the_model_are_counted(model: TrainedModel) -> None:
    record = {"Gr_Liv_Area": 1500, "Neighborhood": "North_Ames"}
    with running(create_app(model)) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            assert http.post("/predict", json=record).status_code == 200
        assert http.post("/predict", json=[record] * 4).status_code == 200
        assert http.post("/predict", json={"Gr_Liv_Area": "large"}).status_code == 422
        assert http.get("/health").status_code == 200
        assert http.get("/wp-admin/setup.php").status_code == 404
        answer = http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = scraped(answer.text)
    assert samples[("cairn_requests_total", (("route", "/predict"), ("status", "200")))] == 4
    assert samples[("cairn_requests_total", (("route", "/predict"), ("status", "422")))] == 1
    assert samples[("cairn_requests_total", (("route", "/health"), ("status", "200")))] == 1
    assert samples[("cairn_requests_total", (("route", "other"), ("status", "404")))] == 1  # no path as a label
    assert samples[("cairn_errors_total", (("route", "/predict"), ("status", "422")))] == 1
    assert samples[("cairn_errors_total", (("route", "other"), ("status", "404")))] == 1
    assert ("cairn_errors_total", (("route", "/predict"), ("status", "200"))) not in samples
    assert samples[("cairn_predictions_total", ())] == 3 + 4  # a batch counts each record
    assert samples[("cairn_request_duration_seconds_count", (("route", "/predict"),))] == 5
    total_s = samples[("cairn_request_duration_seconds_sum", (("route", "/predict"),))]
    assert 0 < total_s < 5
    within_10s = samples[("cairn_request_duration_seconds_bucket", (("le", "10.0"), ("route", "/predict")))]
    assert within_10s == 5
    info = {labels: value for (name, labels), value in samples.items() if name == "cairn_model_info"}
    assert info == {(("name", "house-prices"), ("problem", "regression"), ("target", "Sale_Price"),
                     ("version", str(model.version))): 1.0}


def test_metrics_are_behind_the_api_key_when_one_is_set(model: TrainedModel) -> None:
    with running(create_app(model, api_key="s3cret")) as url, httpx.Client(base_url=url) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
        answer = http.get("/metrics", headers={"X-API-Key": "s3cret"})
        assert http.get("/health").status_code == 200  # the probes stay open
    assert answer.status_code == 200
    samples = scraped(answer.text)
    assert samples[("cairn_requests_total", (("route", "/metrics"), ("status", "401")))] == 2


def test_two_apps_in_one_process_count_apart(model: TrainedModel) -> None:
    with running(create_app(model)) as first, running(create_app(model)) as second:
        httpx.post(f"{first}/predict", json={"Gr_Liv_Area": 1500})
        samples = scraped(httpx.get(f"{second}/metrics").text)
    assert samples[("cairn_predictions_total", ())] == 0


def test_without_metrics_nothing_is_counted(model: TrainedModel) -> None:
    with running(create_app(model, metrics=False)) as url:
        httpx.post(f"{url}/predict", json={"Gr_Liv_Area": 1500})
        answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200 and answer.text == ""

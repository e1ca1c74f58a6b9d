"""Prediction ids and POST /feedback, for real: uvicorn on a free port, httpx, the project's SQLite store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cairn.model.trained import TrainedModel
from cairn.project.api import Project
from cairn.serving import create_app
from tests.examples import QUICK, copy_example
from tests.serving.test_app import ames, classifier, running  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    folder = copy_example(tmp_path_factory.mktemp("served") / "hp", **QUICK)
    loaded = Project.load(folder / "cairn.yaml")
    if not loaded.run().shipped:  # a starved machine may miss the latency constraint: serving is what is tested
        loaded.promote(1)
    return loaded


@pytest.fixture(scope="module")
def served(project: Project) -> Iterator[tuple[str, TrainedModel]]:
    """The project's champion served as `cairn serve` wires it: the prediction log and the feedback writer."""
    model = project.load_model()
    app = create_app(model, on_predictions=project.prediction_logger(model),
                     on_feedback=project.feedback_writer(model))
    with running(app) as url:
        yield url, model


def records(project: Project, rows: int, *, skip: int = 0) -> list[dict[str, Any]]:
    table = pd.read_csv(project.base_dir / "data" / "ames.csv.gz").iloc[skip:skip + rows]
    return json.loads(table.drop(columns="Sale_Price").to_json(orient="records"))


def prices(project: Project, rows: int, *, skip: int = 0) -> list[float]:
    return pd.read_csv(project.base_dir / "data" / "ames.csv.gz")["Sale_Price"].iloc[skip:skip + rows].tolist()


def logged_ids(project: Project, model: TrainedModel, count: int) -> list[Any]:
    """The ids in the prediction log, once the background writes have reached ``count`` lines."""
    path = project.prediction_log_path(model)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line)["id"] for line in lines]
        time.sleep(0.05)
    pytest.fail(f"the prediction log did not reach {count} lines")


def stored(project: Project) -> list[dict[str, Any]]:
    with closing(project.open_store()) as store:
        return store.feedback(project.config.project, project.config.model_name)


def test_every_prediction_gets_an_id_the_client_may_choose_and_the_log_keeps_it(
        project: Project, served: tuple[str, TrainedModel]) -> None:
    url, model = served
    before = len(logged_ids(project, model, 0))
    one = httpx.post(f"{url}/predict", json=records(project, 1)[0]).json()
    assert len(one["prediction_id"]) == 32
    mine = [{**record, "id": name} for record, name in zip(records(project, 3), ["order-17", 18, "x" * 128],
                                                           strict=True)]
    batch = httpx.post(f"{url}/predict", json=mine).json()
    assert batch["prediction_ids"] == ["order-17", 18, "x" * 128]
    assert "warnings" not in batch  # the id is not an input the model ignores: no warning
    mixed = httpx.post(f"{url}/predict", json=[records(project, 1)[0], {**records(project, 1)[0], "id": "z"}])
    ids = mixed.json()["prediction_ids"]
    assert len(ids[0]) == 32 and ids[1] == "z"
    assert logged_ids(project, model, before + 6)[before:] == [one["prediction_id"], "order-17", 18, "x" * 128,
                                                               ids[0], "z"]
    logged = json.loads(project.prediction_log_path(model).read_text().splitlines()[before + 1])
    assert "id" not in logged["record"] and logged["prediction"] == pytest.approx(batch["predictions"][0])


@pytest.mark.parametrize("bad", ["", "y" * 129, True, 1.5, {"a": 1}, None])
def test_a_bad_client_id_is_a_422_naming_it(served: tuple[str, TrainedModel], bad: Any) -> None:
    url, _ = served
    answer = httpx.post(f"{url}/predict", json=[{"Gr_Liv_Area": 1500}, {"Gr_Liv_Area": 1600, "id": bad}])
    if bad is None:  # null: no id of the client's, one is made
        assert answer.status_code == 200 and len(answer.json()["prediction_ids"][1]) == 32
        return
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", 1, "id"] and "at most 128 characters" in error["msg"]


def test_feedback_is_stored_with_the_version_and_unknown_ids_are_counted(
        project: Project, served: tuple[str, TrainedModel]) -> None:
    url, model = served
    sent = [{**record, "id": f"fb-{i}"} for i, record in enumerate(records(project, 5, skip=100))]
    assert httpx.post(f"{url}/predict", json=sent).status_code == 200
    count = len(project.prediction_log_path(model).read_text().splitlines())
    logged_ids(project, model, count)
    truth = [{"id": f"fb-{i}", "actual": price} for i, price in enumerate(prices(project, 5, skip=100))]
    answer = httpx.post(f"{url}/feedback", json=[*truth, {"id": "never-served", "actual": 1.0},
                                                 {"id": 404, "actual": 2}])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 5, "unknown_ids": 2, "unknown": ["never-served", 404],
                             "model": "house-prices", "version": 1, "relabelled": 0}
    one = httpx.post(f"{url}/feedback", json={"id": "fb-0", "actual": 123456})
    assert one.json()["accepted"] == 1 and one.json()["relabelled"] == 1  # a correction, and the answer says so
    rows = [row for row in stored(project) if row["prediction_id"].startswith("fb-")]
    assert [(r["prediction_id"], r["version"], r["source"]) for r in rows][:5] == [
        (f"fb-{i}", 1, "api") for i in range(5)]
    assert rows[0]["actual"] == pytest.approx(prices(project, 1, skip=100)[0]) and rows[-1]["actual"] == 123456.0
    assert not [row for row in stored(project) if row["prediction_id"] in ("never-served", "404")]


def test_an_actual_of_the_wrong_type_is_a_422_naming_the_item_and_nothing_is_stored(
        project: Project, served: tuple[str, TrainedModel]) -> None:
    url, _ = served
    before = len(stored(project))
    answer = httpx.post(f"{url}/feedback", json=[{"id": "fb-1", "actual": 200000}, {"id": "fb-2", "actual": "high"},
                                                 {"id": "fb-3"}, {"actual": 1.0}, "fb-4",
                                                 {"id": "fb-5", "actual": 10**400}])
    assert answer.status_code == 422
    errors = {tuple(error["loc"]): error["msg"] for error in answer.json()["detail"]}
    assert set(errors) == {("body", 1, "actual"), ("body", 2, "actual"), ("body", 3, "id"), ("body", 4),
                           ("body", 5, "actual")}
    assert "should be a finite number (a regression target); got 'high'" in errors[("body", 1, "actual")]
    assert len(stored(project)) == before


def test_a_class_the_model_never_saw_is_a_422(classifier: TrainedModel) -> None:  # noqa: F811
    taken: list[list[dict[str, Any]]] = []

    def take(items: list[dict[str, Any]]) -> dict[str, Any]:
        taken.append(items)
        return {"accepted": len(items), "unknown_ids": 0, "unknown": [], "model": "pricey", "version": 1}

    with running(create_app(classifier, on_feedback=take)) as url:
        good = httpx.post(f"{url}/feedback", json=[{"id": "a", "actual": "cheap"}, {"id": "b", "actual": "expensive"}])
        bad = httpx.post(f"{url}/feedback", json=[{"id": "a", "actual": "cheap"}, {"id": "b", "actual": "luxury"},
                                                  {"id": "c", "actual": 3.5}])
    assert good.status_code == 200 and taken == [[{"id": "a", "actual": "cheap"}, {"id": "b", "actual": "expensive"}]]
    assert bad.status_code == 422 and len(taken) == 1
    errors = {tuple(error["loc"]): error["msg"] for error in bad.json()["detail"]}
    assert set(errors) == {("body", 1, "actual"), ("body", 2, "actual")}
    assert "'cheap', 'expensive'; got 'luxury', a class the model never saw" in errors[("body", 1, "actual")]


def test_a_service_without_a_store_answers_feedback_404_saying_what_to_do(classifier: TrainedModel) -> None:  # noqa: F811
    with running(create_app(classifier)) as url:
        answer = httpx.post(f"{url}/feedback", json={"id": "a", "actual": "cheap"})
        document = httpx.get(f"{url}/openapi.json").json()
    assert answer.status_code == 404 and "cairn feedback FILE" in answer.json()["detail"]
    schemas = document["components"]["schemas"]
    assert {"Feedback", "FeedbackAnswer"} <= set(schemas)
    assert "prediction_id" in schemas["Prediction"]["required"] and "prediction_ids" in schemas["Predictions"][
        "properties"]
    assert "/feedback" in document["paths"] and "404" in document["paths"]["/feedback"]["post"]["responses"]


def test_cairn_serve_takes_feedback_into_the_project_store(project: Project, tmp_path: Path) -> None:
    """The CLI wiring, as a user starts it: `cairn serve` in its own process."""
    from tests.servers import start_serve, stop

    process, base, _ = start_serve(project.path)
    try:
        predicted = httpx.post(f"{base}/predict", json={**records(project, 1, skip=300)[0], "id": "cli-1"})
        assert predicted.json()["prediction_id"] == "cli-1"
        deadline = time.monotonic() + 10
        answer: dict[str, Any] = {}
        while time.monotonic() < deadline:  # the log line is written after the response
            answer = httpx.post(f"{base}/feedback", json={"id": "cli-1", "actual": 150000.0}).json()
            if answer["accepted"]:
                break
            time.sleep(0.1)
        assert answer == {"accepted": 1, "unknown_ids": 0, "unknown": [], "model": "house-prices", "version": 1,
                          "relabelled": 0}
    finally:
        stop(process)
    assert [row["actual"] for row in stored(project) if row["prediction_id"] == "cli-1"] == [150000.0]


def test_prediction_ids_are_unique_in_a_process_and_across_forked_workers() -> None:
    import multiprocessing

    from cairn.serving.predictor import new_prediction_id

    made = [new_prediction_id() for _ in range(10_000)]
    assert len(set(made)) == 10_000 and all(len(one) == 32 and int(one, 16) >= 0 for one in made)
    with multiprocessing.get_context("fork").Pool(1) as pool:  # gunicorn --preload forks workers like this
        child = pool.apply(new_prediction_id)
    assert child[:20] != made[0][:20]

"""`cairn serve` started for real on a free port and called over loopback; `cairn monitor` on drifted data."""

import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.servers import free_port, start_serve, stop, wait_until_healthy

runner = CliRunner()


@pytest.fixture(scope="module")
def served(house_prices):
    """`cairn serve` in its own process, as a user starts it."""
    folder, _, _ = house_prices
    process, base, _ = start_serve(folder / "cairn.yaml")
    yield folder, base
    stop(process)


def test_health_names_the_model(served):
    _, base = served
    assert httpx.get(f"{base}/health").json() == {"status": "ok", "model": "house-prices", "version": 1}


def test_predict_one_and_many_like_the_model_in_process(served):
    folder, base = served
    rows = pd.read_csv(folder / "data" / "ames.csv.gz").head(4).drop(columns="Sale_Price")
    records = json.loads(rows.to_json(orient="records"))
    one = httpx.post(f"{base}/predict", json=records[0]).json()
    many = httpx.post(f"{base}/predict", json=records).json()
    expected = Project.load(folder / "cairn.yaml").load_model().predict(rows)
    assert one["version"] == 1 and one["prediction"] == pytest.approx(expected[0])
    assert np.allclose(many["predictions"], expected)


def test_bad_request_is_a_422_per_field(served):
    _, base = served
    answer = httpx.post(f"{base}/predict", json={"Gr_Liv_Area": "large", "Lot_Area": "big"})
    assert answer.status_code == 422
    fields = {tuple(item["loc"])[-1]: item["msg"] for item in answer.json()["detail"]}
    assert set(fields) == {"Gr_Liv_Area", "Lot_Area"} and "'big'" in fields["Lot_Area"]


def test_a_misspelt_field_is_ignored_with_a_did_you_mean(served):
    _, base = served
    answer = httpx.post(f"{base}/predict", json={"Gr_Liv_Aera": 1500, "Neighborhood": "North_Ames"})
    assert answer.status_code == 200
    assert answer.json()["warnings"] == ["ignored 1 field the model does not use: Gr_Liv_Aera",
                                         "ignored 'Gr_Liv_Aera': did you mean 'Gr_Liv_Area'?"]


def test_a_level_training_never_had_is_named_in_the_answer(served):
    """As `cairn predict` names them (a new-user trial found /predict silent): the answer comes, with a warning;
    a known level spelt otherwise is no warning."""
    _, base = served
    answer = httpx.post(f"{base}/predict", json={"Gr_Liv_Area": 1500, "Neighborhood": "Atlantis",
                                                 "MS_Zoning": "  residential_low_density "})
    assert answer.status_code == 200 and isinstance(answer.json()["prediction"], float)
    [said] = answer.json()["warnings"]
    assert said.startswith("Neighborhood: 1 row has a level the training split never had, such as 'Atlantis'; "
                           "the model reads it as "), said
    known = httpx.post(f"{base}/predict", json={"Gr_Liv_Area": 1500, "Neighborhood": "North_Ames"})
    assert "warnings" not in known.json()


def test_served_requests_are_logged_for_monitoring(served):
    folder, base = served
    httpx.post(f"{base}/predict", json={"Gr_Liv_Area": 1517})
    log = folder / ".cairn" / "predictions" / "house-prices-v1.jsonl"

    def logged() -> bool:  # written after the response: wait for it
        lines = log.read_text().splitlines() if log.exists() else []
        return any(json.loads(line)["record"].get("Gr_Liv_Area") == 1517 for line in lines)

    deadline = time.monotonic() + 10
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged()


def test_monitor_finds_drift_and_advises(house_prices, tmp_path):
    folder, _, _ = house_prices
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    drifted = table.assign(Gr_Liv_Area=table["Gr_Liv_Area"] * 1.6, Sale_Price=table["Sale_Price"] * 1.5)
    drifted.to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(app, ["monitor", "--data", str(tmp_path / "new.csv"), "--json",
                                 "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 3, result.output  # it advises retraining: schedulers see it
    report = json.loads(result.stdout)
    drift = {f["feature"]: f for f in report["drift"]["features"]}
    assert drift["Gr_Liv_Area"]["drifted"] and drift["Gr_Liv_Area"]["psi"] > 0.5
    assert not drift["Neighborhood"]["drifted"]
    assert report["performance"]["mape"] > 0.2 and report["objective_met"] is False
    assert report["retrain"] is True and report["advice"].startswith("Retrain")
    text = runner.invoke(app, ["monitor", "--data", str(tmp_path / "new.csv"), "-p", str(folder / "cairn.yaml")])
    assert "Gr_Liv_Area" in text.output and "Retrain" in text.output


def test_monitor_without_new_data_or_log_says_what_to_pass(tmp_path):
    from tests.examples import QUICK, copy_example

    folder = copy_example(tmp_path / "hp", **QUICK)
    Project.load(folder / "cairn.yaml").run()
    result = runner.invoke(app, ["monitor", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "--data" in result.output


def test_monitor_with_a_missing_column_names_it(house_prices, tmp_path):
    folder, _, _ = house_prices
    pd.read_csv(folder / "data" / "ames.csv.gz").drop(columns=["Gr_Liv_Area"]).to_csv(tmp_path / "n.csv", index=False)
    result = runner.invoke(app, ["monitor", "--data", str(tmp_path / "n.csv"), "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "Gr_Liv_Area" in result.output


def test_serve_off_loopback_without_a_key_refuses_to_start(house_prices):
    folder, _, _ = house_prices
    result = runner.invoke(app, ["serve", "-p", str(folder / "cairn.yaml"), "--host", "0.0.0.0",
                                 "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert "Refusing to serve beyond this machine (host 0.0." in result.output  # the CLI masks IP addresses
    assert "without an API key" in result.output
    assert "deployment.api_key_env" in result.output and "--insecure" in result.output
    assert "serving house-prices" not in result.output  # refused before announcing anything


def test_serve_off_loopback_with_insecure_starts_and_warns(house_prices):
    folder, _, _ = house_prices
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli", "serve", "-p", str(folder / "cairn.yaml"), "--host", "0.0.0.0",
         "--port", str(port), "--insecure"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert "INSECURE: serving on 0.0." in output and "with no API key" in output


def test_serve_refuses_a_model_with_hashed_columns_when_the_salt_is_unset(tmp_path, monkeypatch):
    from tests.examples import QUICK, copy_example

    folder = copy_example(tmp_path / "hp", **QUICK, data={"privacy": {"pii": "hash", "salt_env": "CAIRN_TEST_SALT"}})
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table["owner_email"] = [f"agent{i % 7}@example.org" for i in range(len(table))]  # few values: kept, hashed
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    monkeypatch.setenv("CAIRN_TEST_SALT", "not-a-real-secret")
    run = Project.load(folder / "cairn.yaml").run()
    if not run.shipped:  # a p99 measured on a starved machine may miss the constraint: serving is what is tested
        Project.load(folder / "cairn.yaml").promote(1)
    model = Project.load(folder / "cairn.yaml").load_model()
    assert [column.column for column in model.personal_columns] == ["owner_email"]
    # what the service logs for monitoring keeps no raw personal value, in a kept column or anywhere else
    project = Project.load(folder / "cairn.yaml")
    project.prediction_logger(model)(
        [{"owner_email": "jane.doe@example.com", "Neighborhood": "ask bob.smith@example.net",
          "contact_phone": "555-867-5309", "Gr_Liv_Area": 1656}], [123456.0])
    logged = project.prediction_log_path(model).read_text()
    assert "jane.doe" not in logged and "bob.smith" not in logged and "867-5309" not in logged
    assert "contact_phone" not in logged and '"Gr_Liv_Area": 1656' in logged
    monkeypatch.delenv("CAIRN_TEST_SALT")
    result = runner.invoke(app, ["serve", "-p", str(folder / "cairn.yaml"), "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert "The salt for hashing personal data is not set" in result.output
    assert "export CAIRN_TEST_SALT=" in result.output and "serving house-prices" not in result.output


def wait_for_log(log, lines: int) -> None:
    """The log is written after each response: wait until it holds ``lines`` lines."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= lines:
            return
        time.sleep(0.1)
    pytest.fail(f"the prediction log did not reach {lines} lines")


def test_partial_and_whole_training_rows_are_served_then_monitored(tmp_path):
    """The README's partial records and whole training rows through a real `cairn serve`; then `cairn monitor`
    reports drift on what was sent, naming the features most requests left out, without an error."""
    from tests.examples import QUICK, copy_example

    folder = copy_example(tmp_path / "hp", **QUICK)
    table = pd.read_csv(folder / "data" / "ames.csv.gz").head(600)  # as the probe did: Utilities is then constant
    table.insert(0, "Order", range(1, len(table) + 1))  # a row number: cairn drops it as an identifier
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    run = project.run()
    if not run.shipped:  # 600 rows may miss the objective: serve the version anyway, as a user would promote it
        project.promote(project.models()[-1].version)
    model = project.load_model()
    assert {"Gr_Liv_Area", "Neighborhood", "Lot_Area", "Year_Built"} <= set(model.feature_names)
    unused = [name for name in table.columns if name not in model.feature_names and name != "Sale_Price"]
    assert {"Utilities", "Order"} <= set(unused)  # the training schema has more columns than the model uses
    process, base, _ = start_serve(folder / "cairn.yaml")
    try:
        # a training row minus its target: 200, with the columns the model does not use named in a warning
        rows = json.loads(table.head(10).drop(columns="Sale_Price").to_json(orient="records"))
        whole = httpx.post(f"{base}/predict", json=rows[0])
        assert whole.status_code == 200, whole.text
        assert whole.json()["prediction"] == pytest.approx(model.predict(table.head(1))[0])
        shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        assert whole.json()["warnings"][0] == f"ignored {len(unused)} fields the model does not use: {shown}"
        assert httpx.post(f"{base}/predict", json=rows[1:]).status_code == 200
        # 40 partial records as the README's curl sends them, half of them with Lot_Area too
        for index in range(40):
            record = {"Gr_Liv_Area": int(table["Gr_Liv_Area"].iloc[index]),
                      "Neighborhood": str(table["Neighborhood"].iloc[index])}
            if index % 2 == 0:
                record["Lot_Area"] = int(table["Lot_Area"].iloc[index])
            assert httpx.post(f"{base}/predict", json=record).status_code == 200
        log = Project.load(folder / "cairn.yaml").prediction_log_path(model)
        wait_for_log(log, 50)
    finally:
        process.terminate()
        process.wait(timeout=10)
    logged = [json.loads(line)["record"] for line in log.read_text().splitlines()]
    assert not any("Utilities" in record for record in logged)  # ignored keys are never logged
    result = runner.invoke(app, ["monitor", "--json", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code in (0, 3), result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    drift = {feature["feature"]: feature for feature in report["drift"]["features"]}
    assert report["drift"]["current_rows"] == 50
    # sent by all 50: judged as before
    assert drift["Gr_Liv_Area"]["judged"] and not drift["Gr_Liv_Area"]["detail"].startswith("not sent")
    # sent by 30 of 50 (20 partial records and the 10 whole rows): judged on those 30
    assert drift["Lot_Area"]["judged"]
    assert drift["Lot_Area"]["detail"].startswith("not sent in 20 of 50 requests; judged on the 30 that sent it")
    # sent by the 10 whole rows only: reported, left out of the verdict
    assert not drift["Year_Built"]["judged"] and drift["Year_Built"]["psi"] is None
    assert drift["Year_Built"]["detail"].startswith("not sent in 40 of 50 requests")
    assert "Year_Built" in report["drift"]["not_judged"] and "Gr_Liv_Area" not in report["drift"]["not_judged"]
    assert set(report["drift"]["drifted"]) <= {"Gr_Liv_Area", "Lot_Area", "Neighborhood"}
    assert "Not judged:" in report["advice"] and "were not sent in most of the 50 requests" in report["advice"]
    text = runner.invoke(app, ["monitor", "-p", str(folder / "cairn.yaml")])
    assert text.exit_code in (0, 3) and "Traceback" not in text.output
    flat = " ".join(text.output.split())  # the table wraps its cells; the advice wraps at words
    assert "│ Lot_Area" in text.output and "│ Year_Built" in text.output and "│ not sent in" in text.output
    unjudged = len(report["drift"]["not_judged"])
    assert (f"Not judged: {unjudged} of {len(drift)} features were not sent in most of the 50 requests (the model "
            "imputed them): ") in flat
    assert len(text.output.splitlines()) > 5  # the table, not a one-paragraph error

"""`cairn serve` started for real on a free port and called over loopback; `cairn monitor` on drifted data."""

import json
import os
import socket
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

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(house_prices):
    """`cairn serve` in its own process, as a user starts it."""
    folder, _, _ = house_prices
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli", "serve", "-p", str(folder / "cairn.yaml"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"cairn serve did not start: {process.stdout.read().decode()}")
    yield folder, base
    process.terminate()
    process.wait(timeout=10)


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
    answer = httpx.post(f"{base}/predict", json={"Gr_Liv_Aera": 1500, "Lot_Area": "big"})
    assert answer.status_code == 422
    fields = {tuple(item["loc"])[-1]: item["msg"] for item in answer.json()["detail"]}
    assert "Gr_Liv_Area" in fields["Gr_Liv_Aera"] and "Lot_Area" in fields


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
    assert result.exit_code == 0, result.output
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("cairn serve --insecure did not start")
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
    Project.load(folder / "cairn.yaml").run()
    model = Project.load(folder / "cairn.yaml").load_model()
    assert [column.column for column in model.personal_columns] == ["owner_email"]
    monkeypatch.delenv("CAIRN_TEST_SALT")
    result = runner.invoke(app, ["serve", "-p", str(folder / "cairn.yaml"), "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert "The salt for hashing personal data is not set" in result.output
    assert "export CAIRN_TEST_SALT=" in result.output and "serving house-prices" not in result.output

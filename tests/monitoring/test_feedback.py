"""Ground truth fed back, performance per time window, estimates, the retrain rules and the webhook: on a real
trained project (the quick house-price example) with its SQLite store, through the CLI where users go."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cairn.cli import app
from cairn.config import load_config
from cairn.errors import ConfigError
from cairn.monitoring.estimate import expected_classification_metrics
from cairn.monitoring.windows import served_table, window_rows
from cairn.project.api import Project
from tests.examples import QUICK, copy_example
from tests.servers import free_port

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick example, run once for the module: a production model v1 and its holdout."""
    folder = copy_example(tmp_path_factory.mktemp("feedback") / "hp", **QUICK)
    run = Project.load(folder / "cairn.yaml").run()
    if not run.shipped:  # a starved machine may miss the latency constraint: the model is what is tested
        Project.load(folder / "cairn.yaml").promote(1)
    return folder


@pytest.fixture()
def folder(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project (store included): each test feeds back its own truth."""
    return Path(shutil.copytree(trained, tmp_path / "hp"))


def configure(folder: Path, **monitoring: Any) -> Path:
    path = folder / "cairn.yaml"
    config = yaml.safe_load(path.read_text())
    config["monitoring"] = {**config.get("monitoring", {}), **monitoring}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def ames(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "data" / "ames.csv.gz")


def weekly(table: pd.DataFrame, weeks: int, *, start: str = "2009-01-05") -> pd.Series:
    """A date per row, spreading the rows evenly over `weeks` weeks."""
    offsets = np.arange(len(table)) * weeks // len(table)
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(offsets * 7, unit="D"), index=table.index).dt.strftime(
        "%Y-%m-%d")


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


# feedback files ------------------------------------------------------------------------------------------------
def test_input_rows_fed_back_give_metrics_per_window_with_interval_threshold_and_history(folder: Path) -> None:
    project_file = configure(folder, window="7d", time_column="sold_at")
    rows = ames(folder).sample(600, random_state=3).reset_index(drop=True)
    rows["sold_at"] = weekly(rows, 3)
    rows.to_csv(folder / "truth.csv", index=False)
    stored = invoke("feedback", str(folder / "truth.csv"), "-p", str(project_file), "--json")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout) == {"accepted": 600, "unknown_ids": 0, "unknown": [], "skipped": 0,
                                              "model": "house-prices", "version": 1, "source": "inputs",
                                              "relabelled": 0}
    result = invoke("monitor", "--json", "--no-fail", "-p", str(project_file))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    windows = report["windows"]
    assert [w["labelled"] for w in windows] == [200, 200, 200]
    assert windows[0]["start"] == "2009-01-05T00:00:00+00:00"  # weekly windows start on a Monday
    mape = [next(m for m in w["metrics"] if m["kind"] == "realised") for w in windows]
    model = Project.load(project_file).load_model()
    first = rows.iloc[:200]
    realised = float(np.mean(np.abs(model.predict(first) - first["Sale_Price"]) / first["Sale_Price"]))
    assert mape[0]["value"] == pytest.approx(realised)
    assert all(m["low"] < m["value"] < m["high"] and m["threshold"] == 0.1 for m in mape)
    assert all(m["met"] == (m["value"] < 0.1) for m in mape)
    assert report["latest_window"] == windows[-1] and report["trend"] == windows
    # the history is in the store, upserted: a second monitor rewrites the same rows
    again = invoke("monitor", "--json", "--no-fail", "-p", str(project_file))
    assert again.exit_code == 0
    with closing(Project.load(project_file).open_store()) as store:
        history = store.performance("house-prices", "house-prices", 1)
    assert len(history) == 6  # 3 windows x (realised, estimated)
    assert {row["kind"] for row in history} == {"realised", "estimated"}
    text = invoke("monitor", "--no-fail", "-p", str(project_file))
    assert "performance per window" in text.output and "2009-01-19" in text.output
    assert "served requests, not the --data file" not in text.output
    beside = invoke("monitor", "--no-fail", "--data", str(folder / "truth.csv"), "-p", str(project_file))
    assert beside.exit_code == 0, beside.output  # the windows are the served requests', and the title says so
    assert "served requests, not the --data file: performance per window" in " ".join(beside.output.split())


def test_ids_fed_back_from_a_file_match_the_logged_predictions_and_unknown_ids_are_counted(folder: Path) -> None:
    project = Project.load(folder / "cairn.yaml")
    model = project.load_model()
    rows = ames(folder).head(40)
    records = json.loads(rows.drop(columns="Sale_Price").to_json(orient="records"))
    predictions = model.predict(rows).tolist()
    project.prediction_logger(model)(records, predictions, [f"sale-{i}" for i in range(40)])
    truth = pd.DataFrame({"id": [f"sale-{i}" for i in range(30)] + ["nobody", "nobody-else"],
                          "Sale_Price": list(rows["Sale_Price"].iloc[:30]) + [1.0, 2.0]})
    truth.to_csv(folder / "ids.csv", index=False)
    result = invoke("feedback", str(folder / "ids.csv"), "-p", str(folder / "cairn.yaml"))
    assert result.exit_code == 0, result.output
    assert "stored 30 true values for house-prices v1" in result.stdout
    assert "2 ids match no logged prediction, not stored: nobody, nobody-else" in result.stderr
    with closing(project.open_store()) as store:
        kept = store.feedback("house-prices", "house-prices", 1)
    assert [row["prediction_id"] for row in kept] == [f"sale-{i}" for i in range(30)]
    assert kept[0]["actual"] == pytest.approx(float(rows["Sale_Price"].iloc[0]))
    assert "had one already" not in result.output
    truth.head(3).assign(Sale_Price=[1.0, 2.0, 3.0]).to_csv(folder / "corrected.csv", index=False)
    corrected = invoke("feedback", "--json", str(folder / "corrected.csv"), "-p", str(folder / "cairn.yaml"))
    assert json.loads(corrected.stdout)["relabelled"] == 3  # said, and the newest counts
    corrected = invoke("feedback", str(folder / "ids.csv"), "-p", str(folder / "cairn.yaml"))
    assert ("note: 30 of these rows give a true value for an id that had one already (sent before, or earlier in "
            "the file): the newest counts") in " ".join(corrected.stderr.split())
    truth.tail(2).to_csv(folder / "strangers.csv", index=False)  # every id unknown: a user error, nothing stored
    result = invoke("feedback", str(folder / "strangers.csv"), "-p", str(folder / "cairn.yaml"))
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "None of the 2 ids in" in said and "nothing was stored" in said, said
    assert "got nobody, nobody-else" in said
    report = project.monitor()
    assert [w.labelled for w in report.windows] == [30] and report.windows[0].rows == 40
    realised = report.windows[0].realised("mape")
    expected = np.mean(np.abs(np.array(predictions[:30]) - rows["Sale_Price"].iloc[:30]) / rows["Sale_Price"].iloc[:30])
    assert realised is not None and realised.value == pytest.approx(expected)


@pytest.mark.parametrize(("content", "expected"), [
    ("", "holds no rows"),
    ("Gr_Liv_Area,Sale_Price\n1500,200000\n", "has neither an id column nor the model's inputs"),
    ("id,Sale_Price\nabc,expensive\n", "unusable values in Sale_Price"),
    ("id,price\nabc,1\n", "has no Sale_Price column"),
])
def test_a_feedback_file_that_cannot_be_used_is_a_user_error_naming_what_is_wrong(
        folder: Path, content: str, expected: str) -> None:
    (folder / "bad.csv").write_text(content)
    result = invoke("feedback", str(folder / "bad.csv"), "-p", str(folder / "cairn.yaml"))
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert expected in flat and "Traceback" not in result.output
    if "neither" in expected:  # the missing inputs are named
        assert "Lot_Area" in flat and "Street" in flat and "and 64 more" in flat
    if "unusable" in expected:  # what a value must be, not a sentence about it
        assert "a finite number (a regression target)" in flat and "The actual value" not in flat, flat


def test_a_window_that_does_not_parse_is_a_config_error(folder: Path) -> None:
    for bad in ("7days", "0d", "1m", "week"):
        configure(folder, window=bad)
        with pytest.raises(ConfigError) as raised:
            load_config(folder / "cairn.yaml")
        assert "monitoring.window" in str(raised.value) and "7d" in str(raised.value)
    configure(folder, window="36h")
    assert load_config(folder / "cairn.yaml").monitoring.window_hours == 36


# rules, exit codes, estimates ------------------------------------------------------------------------------------
def test_metric_missed_in_two_windows_in_a_row_fires_the_retrain_rule_and_exits_3(folder: Path) -> None:
    project_file = configure(folder, window="7d", time_column="sold_at", retrain_when={"missed_windows": 2,
                                                                                      "drift_share": 1.0})
    rows = ames(folder).sample(450, random_state=5).reset_index(drop=True)
    rows["sold_at"] = weekly(rows, 3)
    rows["Sale_Price"] = rows["Sale_Price"].astype(float)
    rows.loc[150:, "Sale_Price"] *= 1.6  # the market moved: weeks 2 and 3 sell 60% above the model
    rows.to_csv(folder / "truth.csv", index=False)
    assert invoke("feedback", str(folder / "truth.csv"), "-p", str(project_file)).exit_code == 0
    result = invoke("monitor", "--json", "-p", str(project_file))
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    fired = {rule["rule"]: rule for rule in report["rules"]}
    assert set(fired) == {"missed_windows"}
    assert fired["missed_windows"]["windows"] == 2 and fired["missed_windows"]["metric"] == "mape"
    assert all(value > 0.3 for value in fired["missed_windows"]["values"])
    assert report["retrain"] is True and report["latest_missed"] is True
    assert "MAPE < 10% missed in the last 2 windows with ground truth" in report["advice"]
    assert invoke("monitor", "--no-fail", "-p", str(project_file)).exit_code == 0
    # one missed window is not enough when the rule asks for three; the latest missed still exits 3
    configure(folder, retrain_when={"missed_windows": 3, "drift_share": 1.0})
    relaxed = json.loads(invoke("monitor", "--json", "-p", str(project_file)).stdout)
    assert relaxed["retrain"] is False and relaxed["latest_missed"] is True


def test_regression_estimate_tracks_the_realised_mape_and_a_missed_estimate_fires_the_rule(folder: Path) -> None:
    """The error model (fitted once on the holdout, kept in the store) estimates each window's MAPE from the
    served inputs alone; on windows whose truth came back it lands near the realised MAPE."""
    project_file = configure(folder, window="7d", time_column="sold_at")
    rows = ames(folder).sample(400, random_state=11).reset_index(drop=True)
    rows["sold_at"] = weekly(rows, 2)
    rows.to_csv(folder / "truth.csv", index=False)
    assert invoke("feedback", str(folder / "truth.csv"), "-p", str(project_file)).exit_code == 0
    report = Project.load(project_file).monitor()
    for window in report.windows:
        realised, estimated = window.realised("mape"), window.estimated("mape")
        assert realised is not None and estimated is not None and estimated.kind == "estimated"
        assert estimated.value == pytest.approx(realised.value, rel=0.5)  # an estimate, not a measure
    with closing(Project.load(project_file).open_store()) as store:
        assert store.monitoring_artifact("house-prices", "house-prices", 1, "error_model") is not None
    # served rows with no truth yet, far outside what the model knows: the estimate alone says it misses
    project = Project.load(project_file)
    model = project.load_model()
    huge = ames(folder).head(50).assign(Gr_Liv_Area=lambda t: t["Gr_Liv_Area"] * 4, Lot_Area=200_000)
    records = json.loads(huge.drop(columns="Sale_Price").to_json(orient="records"))
    project.prediction_logger(model)(records, model.predict(huge).tolist(), [f"h{i}" for i in range(50)])
    report = project.monitor()
    latest = report.windows[-1]
    assert latest.realised("mape") is None and latest.labelled == 0 and latest.rows == 50
    estimate = latest.estimated("mape")
    assert estimate is not None and 0 < estimate.value < 1
    assert "estimate_missed" not in [rule["rule"] for rule in report.rules] or estimate.value >= 0.1
    # a stricter objective than the estimate: the estimate rule fires, marked as an estimate
    config = yaml.safe_load(project_file.read_text())
    config["business"]["success"] = [{"metric": "mape", "below": 0.01}]
    project_file.write_text(yaml.safe_dump(config, sort_keys=False))
    strict = Project.load(project_file).monitor()
    fired = {rule["rule"]: rule for rule in strict.rules}
    assert fired["estimate_missed"]["estimate"] == pytest.approx(estimate.value)
    assert "(an estimate)" in strict.advice and strict.retrain


def test_classifier_estimate_is_the_metric_expected_from_calibrated_probabilities() -> None:
    """CBPE: labels drawn from calibrated probabilities score, on average, what the real labels score."""
    rng = np.random.default_rng(0)
    probability = rng.beta(2, 2, size=4000)
    truth = np.where(rng.random(4000) < probability, "yes", "no")
    probabilities = np.column_stack([1 - probability, probability])
    predicted = np.where(probability >= 0.5, "yes", "no")
    estimated = expected_classification_metrics(["accuracy", "f1", "roc_auc"], predicted=predicted,
                                                probabilities=probabilities, classes=np.array(["no", "yes"]),
                                                positive="yes", seed=1)
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    assert estimated["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=0.02)
    assert estimated["f1"] == pytest.approx(f1_score(truth, predicted, pos_label="yes"), abs=0.02)
    assert estimated["roc_auc"] == pytest.approx(roc_auc_score(truth == "yes", probability), abs=0.02)


def test_weeks_start_on_monday_days_at_midnight_and_the_latest_feedback_for_an_id_wins() -> None:
    at = pd.to_datetime(pd.Series(["2009-01-04T23:59:59Z", "2009-01-05T00:00:00Z", "2009-01-11T23:59:59Z",
                                   "2009-01-12T00:00:00Z"]))  # a Sunday night, then Monday 5 January
    numbers, bounds = window_rows(at, 24 * 7)
    assert numbers.tolist() == [0, 1, 1, 2]
    assert [start.strftime("%a %Y-%m-%d %H:%M") for start, _ in bounds] == [
        "Mon 2008-12-29 00:00", "Mon 2009-01-05 00:00", "Mon 2009-01-12 00:00"]
    numbers, bounds = window_rows(at, 14 * 24)  # two weeks: Mondays too
    assert numbers.tolist() == [0, 1, 1, 1] and bounds[1][0].isoformat() == "2009-01-05T00:00:00+00:00"
    numbers, bounds = window_rows(at, 24)
    assert numbers.tolist() == [0, 1, 2, 3] and bounds[0][0].isoformat() == "2009-01-04T00:00:00+00:00"
    lines = [{"at": "2009-01-02T10:00:00Z", "id": "a", "record": {"Gr_Liv_Area": 1.0}, "prediction": 1.0},
             {"at": "2009-01-03T10:00:00Z", "id": "b", "record": {"Gr_Liv_Area": 2.0}, "prediction": 2.0}]
    feedback = [{"prediction_id": "a", "version": 1, "actual": 10.0, "event_at": None, "record": None,
                 "received_at": None, "prediction": None, "source": "api"},
                {"prediction_id": "a", "version": 1, "actual": 11.0, "event_at": None, "record": None,
                 "received_at": None, "prediction": None, "source": "api"},
                {"prediction_id": "b", "version": 2, "actual": 99.0, "event_at": None, "record": None,
                 "received_at": None, "prediction": None, "source": "api"}]
    table = served_table(lines, feedback, version=1, feature_names=["Gr_Liv_Area"])
    assert table["actual"].tolist() == [11.0, None]  # b's truth belongs to another version


# the webhook -----------------------------------------------------------------------------------------------------
class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # http.server calls it by that name
        length = int(self.headers["Content-Length"])
        Receiver.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.received = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_retrain_advice_is_posted_to_the_webhook_and_a_dead_webhook_is_only_a_warning(
        folder: Path, receiver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    project_file = configure(folder, webhook_env="CAIRN_TEST_HOOK")
    drifted = ames(folder).head(300).assign(Gr_Liv_Area=lambda t: t["Gr_Liv_Area"] * 1.6,
                                            Sale_Price=lambda t: t["Sale_Price"] * 1.5)
    drifted.to_csv(folder / "new.csv", index=False)
    monkeypatch.setenv("CAIRN_TEST_HOOK", receiver)
    result = invoke("monitor", "--data", str(folder / "new.csv"), "--json", "-p", str(project_file))
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["webhook"] == "sent (HTTP 204)"
    assert len(Receiver.received) == 1
    posted = Receiver.received[0]
    assert posted["retrain"] is True and posted["model"] == "house-prices" and posted["rules"] == report["rules"]
    dead = f"http://127.0.0.1:{free_port()}/hook"  # a port nobody listens on
    monkeypatch.setenv("CAIRN_TEST_HOOK", dead)
    failed = invoke("monitor", "--data", str(folder / "new.csv"), "--json", "-p", str(project_file))
    assert failed.exit_code == 3 and "Traceback" not in failed.output
    assert json.loads(failed.stdout)["webhook"].startswith("failed: ConnectError")
    assert len(Receiver.received) == 1


def test_a_model_with_hashed_personal_columns_is_scored_on_its_answers_as_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log holds personal columns already hashed: the windows score the logged answers, never predict the
    protected records again (which would hash them twice)."""
    monkeypatch.setenv("CAIRN_TEST_SALT", "not-a-real-secret")
    folder = copy_example(tmp_path / "hp", **QUICK, data={"privacy": {"pii": "hash", "salt_env": "CAIRN_TEST_SALT"}})
    table = ames(folder)
    table["owner_email"] = [f"agent{i % 7}@example.org" for i in range(len(table))]
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    if not project.run().shipped:
        project.promote(1)
    model = project.load_model()
    assert [column.column for column in model.personal_columns] == ["owner_email"]
    rows = table.head(60)
    records = json.loads(rows.drop(columns="Sale_Price").to_json(orient="records"))
    served = model.predict(rows).tolist()
    project.prediction_logger(model)(records, served, [f"p{i}" for i in range(60)])
    assert "agent1@example.org" not in project.prediction_log_path(model).read_text()
    pd.DataFrame({"id": [f"p{i}" for i in range(60)], "Sale_Price": rows["Sale_Price"]}).to_csv(
        folder / "truth.csv", index=False)
    assert invoke("feedback", str(folder / "truth.csv"), "-p", str(folder / "cairn.yaml")).exit_code == 0
    (window,) = project.monitor().windows
    realised = window.realised("mape")
    expected = np.mean(np.abs(np.array(served) - rows["Sale_Price"]) / rows["Sale_Price"])
    assert realised is not None and realised.value == pytest.approx(expected)
    assert window.estimated("mape") is None  # no estimate from records it cannot read as the model did


def test_the_error_estimate_reads_a_whole_number_in_either_spelling() -> None:
    """The regression estimate learned its categories from holdout codes written 98115; a logged window read from
    a file with a gap writes 98115.0. The same rows must get the same estimated errors."""
    from cairn.monitoring.estimate import fit_error_model

    rng = np.random.default_rng(0)
    zips = rng.choice([98103, 98115, 98199], 600)
    prediction = rng.normal(500, 50, 600)
    truth = prediction + np.where(zips == 98199, 200.0, 5.0) * rng.choice([-1, 1], 600)  # one place is hard
    model = fit_error_model(pd.DataFrame({"zip": zips.astype(str)}), prediction, truth, seed=0)
    as_text = model.absolute_errors(pd.DataFrame({"zip": zips.astype(str)}), prediction)
    as_floats = model.absolute_errors(pd.DataFrame({"zip": zips.astype(float)}), prediction)
    np.testing.assert_allclose(as_floats, as_text)
    assert as_text[zips == 98199].mean() > 5 * as_text[zips != 98199].mean()  # the category is what it learned

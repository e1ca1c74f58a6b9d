"""The prediction log off the request path: a full queue drops and counts, never blocks; the log rotates by size and
every reader takes all its parts."""

import shutil
import threading
import time

import httpx
import yaml

from cairn.monitoring.feedback import ServedIndex, log_parts, read_log
from cairn.project.api import Project
from cairn.serving import create_app
from cairn.serving.log_queue import QueuedHook
from tests.serving.test_app import ames, json_records, model, running  # noqa: F401  (fixtures)


def test_a_full_queue_drops_and_counts_without_blocking_and_close_writes_the_rest():
    release, written, dropped = threading.Event(), [], []

    def slow_hook(records, predictions, ids):
        release.wait(10)
        written.append(ids)

    hook = QueuedHook(slow_hook, maxsize=2, on_drop=dropped.append)
    hook([{"x": 0}] * 3, [0.0] * 3, ["0-0", "0-1", "0-2"])
    deadline = time.monotonic() + 5
    while hook.depth and time.monotonic() < deadline:  # the writer took the first batch, and blocks on it
        time.sleep(0.01)
    began = time.perf_counter()
    for request in range(1, 6):
        hook([{"x": request}] * 3, [0.0] * 3, [f"{request}-{i}" for i in range(3)])
    assert time.perf_counter() - began < 0.5  # never waited for the blocked writer
    # one batch in the writer's hands, two queued, three dropped (of three records each)
    assert hook.dropped == 9 and dropped == [3, 3, 3] and hook.depth == 2
    release.set()
    hook.close()
    assert written == [["0-0", "0-1", "0-2"], ["1-0", "1-1", "1-2"], ["2-0", "2-1", "2-2"]]


def test_drops_and_the_queue_depth_are_on_the_metrics_page(model, ames):  # noqa: F811
    release = threading.Event()
    app = create_app(model, on_predictions=lambda records, predictions: release.wait(10))
    state = app.state.serving
    state.on_predictions = QueuedHook(state.on_predictions.hook, maxsize=1, on_drop=state.metrics.log_dropped.inc)
    records = json_records(ames, model.feature_names)[:2]
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        answers = [http.post("/predict", json=records) for _ in range(5)]
        page = http.get("/metrics").text
        release.set()
    assert [a.status_code for a in answers] == [200] * 5
    assert "cairn_prediction_log_dropped_total 6.0" in page  # 3 requests of 2 records dropped
    assert "cairn_prediction_log_queue_depth 1.0" in page


def test_the_log_rotates_by_size_and_readers_take_every_part(quick_house_prices, tmp_path):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config.setdefault("deployment", {})["prediction_log_mb"] = 0.01  # about 10 KB a part
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(folder / "cairn.yaml")
    served = project.load_model()
    log = project.prediction_logger(served)
    record = {"Gr_Liv_Area": 1656, "Neighborhood": "North_Ames", "Year_Built": 1960}
    for batch in range(60):
        log([record] * 5, [150_000.0] * 5, [f"{batch}-{i}" for i in range(5)])
    path = project.prediction_log_path(served)
    parts = log_parts(path)
    assert len(parts) >= 3 and parts[-1] == path and all(p.stat().st_size < 20_000 for p in parts)
    lines = read_log(path)
    assert [line["id"] for line in lines] == [f"{b}-{i}" for b in range(60) for i in range(5)]
    assert len(project.logged_records(served)) == 300
    index = ServedIndex(path.parent, served.name)
    index.refresh()
    assert index.lookup("0-0") == (served.version, lines[0]["at"])  # found in the oldest part
    assert index.lookup("59-4") is not None

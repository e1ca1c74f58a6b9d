"""`GET /metrics` whole across `cairn serve --workers 2`, started for real: whichever worker answers the scrape,
it counts every worker's predictions, still after a worker is killed and replaced, and the shared folder is gone
once the server stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.project.test_serve_workers import _workers_of
from tests.servers import free_port, wait_until_healthy

WORKERS = 2
REQUESTS = 40


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _folder_of(worker: int) -> Path:
    """The metrics folder a worker counts into, from its environment (set by `cairn serve`, not by this test)."""
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    found = [entry.split(b"=", 1)[1].decode() for entry in environ if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert found, f"worker {worker} has no PROMETHEUS_MULTIPROC_DIR"
    return Path(found[0])


def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with httpx.Client(base_url=base, timeout=10) as client:  # a new connection: any worker may answer
        answer = client.get("/metrics")
    assert answer.status_code == 200
    return _samples(answer.text)


def _wait_for_workers(pid: int, count: int, *, replacing: list[int] | None = None) -> list[int]:
    """The `count` workers of `pid` once they run (and, with `replacing`, once one of them is new)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = _workers_of(pid)
        if len(workers) == count and (replacing is None or set(workers) - set(replacing)):
            return workers
        time.sleep(0.1)
    pytest.fail(f"cairn serve has the workers {_workers_of(pid)}, not {count} (replacing {replacing})")


@pytest.fixture()
def project(quick_house_prices, tmp_path):
    return shutil.copytree(quick_house_prices, tmp_path / "hp")


def test_a_scrape_counts_every_workers_predictions_whichever_worker_answers(project):
    rows = pd.read_csv(project / "data" / "ames.csv.gz").drop(columns="Sale_Price").head(200)
    records = json.loads(rows.to_json(orient="records"))
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("CAIRN_API_KEY", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "cairn.cli", "serve", "-p", str(project / "cairn.yaml"),
                               "--port", str(port), "--workers", str(WORKERS)],
                              cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own group: a failed test stops the workers too
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server)
        workers = _wait_for_workers(server.pid, WORKERS)
        folder = _folder_of(workers[0])
        assert _folder_of(workers[1]) == folder and folder.is_dir()
        for _ in range(20):  # each worker ready (warmed up) before the load
            assert httpx.get(f"{base}/ready").status_code == 200

        batches = [records[4 * i:4 * i + 1 + i % 4] for i in range(REQUESTS)]  # 40 requests of 1 to 4 records

        def post(batch):
            with httpx.Client(base_url=base, timeout=30) as client:
                return client.post("/predict", json=batch if len(batch) > 1 else batch[0])

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, batches))
        assert [answer.status_code for answer in answers] == [200] * REQUESTS
        sent = sum(len(batch) for batch in batches)
        assert sent == 100
        # both workers answered some of them (each has its own file of counts), so a whole count is a merged one
        assert {worker for worker in workers if (folder / f"counter_{worker}.db").exists()} == set(workers)

        # the prediction log is written behind the answers: under load a queue may still hold a record for a moment
        _wait_for_drained_queues(base)
        for _ in range(6):  # several scrapes on new connections: both workers answer some
            samples = _scrape(base)
            assert samples[("cairn_predictions_total", ())] == sent
            assert samples[("cairn_requests_total", (("route", "/predict"), ("status", "200")))] == REQUESTS
            assert samples[("cairn_request_duration_seconds_count", (("route", "/predict"),))] == REQUESTS
            info = {labels: value for (name, labels), value in samples.items() if name == "cairn_model_info"}
            assert info == {(("name", "house-prices"), ("problem", "regression"), ("target", "Sale_Price"),
                             ("version", "1")): 1.0}  # one sample, as with one worker: no pid label
            assert samples[("cairn_prediction_log_queue_depth", ())] == 0  # livesum: every queue drained
            assert samples[("cairn_prediction_log_dropped_total", ())] == 0

        # a worker killed outright: uvicorn starts another; its counts stay, its live gauges are forgotten
        killed = workers[0]
        os.kill(killed, signal.SIGKILL)
        _wait_for_workers(server.pid, WORKERS, replacing=workers)
        wait_until_healthy(base, server)
        for _ in range(20):
            assert httpx.get(f"{base}/ready").status_code == 200
        assert post(records[:3]).status_code == 200
        samples = _scrape(base)
        assert samples[("cairn_predictions_total", ())] == sent + 3
        assert not (folder / f"gauge_livemax_{killed}.db").exists()
        assert (folder / f"counter_{killed}.db").exists()
        info = {labels: value for (name, labels), value in samples.items() if name == "cairn_model_info"}
        assert list(info.values()) == [1.0]

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not folder.exists()  # the shared folder is removed when the server stops
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        output = server.communicate(timeout=10)[0].decode()
    assert "Traceback" not in output, output


WORKER_SCRIPT = """
import dataclasses, sys
from cairn.serving.metrics import ServiceMetrics
from tests.serving.test_fuzz import small_model

model = small_model()
metrics = ServiceMetrics(model)
assert metrics.folder is not None
metrics.watch_log_queue(lambda: float(sys.argv[1]))
metrics.observe("/predict", 200, 0.003)
metrics.predictions.inc(5)
if sys.argv[2] == "switch":
    metrics.serving(dataclasses.replace(model, version=2))
sys.stdout.write(metrics.exposition().decode())
"""


def test_processes_sharing_a_folder_merge_counts_and_forget_the_gauges_of_the_dead(tmp_path):
    """Two worker-like processes one after the other in one folder: the second's scrape holds both counts, its own
    queue depth only (the first is gone), and after a switch its model at 1 and the one it left at 0."""
    from cairn.serving.metrics import shared_metrics_folder

    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    with shared_metrics_folder() as folder:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder) and folder.is_dir()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}

        def worker(depth: int, action: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            done = subprocess.run([sys.executable, "-c", WORKER_SCRIPT, str(depth), action], env=env,
                                  capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
            assert done.returncode == 0, done.stderr
            return _samples(done.stdout)

        first = worker(3, "stay")
        assert first[("cairn_predictions_total", ())] == 5
        assert first[("cairn_prediction_log_queue_depth", ())] == 3
        second = worker(4, "switch")
    assert not folder.exists() and os.environ.get("PROMETHEUS_MULTIPROC_DIR") == previous
    assert second[("cairn_predictions_total", ())] == 10  # the first process's counts kept
    assert second[("cairn_requests_total", (("route", "/predict"), ("status", "200")))] == 2
    assert second[("cairn_request_duration_seconds_bucket", (("le", "0.005"), ("route", "/predict")))] == 2
    assert second[("cairn_prediction_log_queue_depth", ())] == 4  # livesum of the live: the first one is gone
    info = {dict(labels)["version"]: value for (name, labels), value in second.items() if name == "cairn_model_info"}
    assert info == {"1": 0.0, "2": 1.0}  # the first process's version-1 gauge forgotten; the second's left at 0


def _wait_for_drained_queues(base: str, timeout_s: float = 15.0) -> None:
    """Until every worker's prediction-log queue reads empty (livesum over workers), or the test fails saying so."""
    deadline = time.monotonic() + timeout_s
    while (depth := _scrape(base)[("cairn_prediction_log_queue_depth", ())]) != 0:
        assert time.monotonic() < deadline, f"prediction-log queues still hold {depth} records after {timeout_s} s"
        time.sleep(0.1)

"""`cairn serve --workers 2`, started for real: concurrent requests all answered, one prediction log with every
line whole, and SIGTERM lets a request in flight finish."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from cairn.project import Project
from tests.servers import free_port, wait_until_healthy

WORKERS = 2


def _workers_of(pid: int) -> list[int]:
    """The worker processes uvicorn spawned under `pid` (children running multiprocessing's spawn_main)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _log_lines(log: Path, expected: int) -> list[str]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= expected:
            return lines
        time.sleep(0.1)
    pytest.fail(f"the prediction log holds {len(lines)} lines, not {expected}")


@pytest.fixture()
def project(quick_house_prices, tmp_path):
    """A copy of the quick example with its store: this test's log lines stay out of the shared project's."""
    return shutil.copytree(quick_house_prices, tmp_path / "hp")


def test_two_workers_answer_concurrent_requests_log_each_line_whole_and_finish_in_flight_work(project):
    rows = pd.read_csv(project / "data" / "ames.csv.gz").drop(columns="Sale_Price").head(200)
    records = json.loads(rows.to_json(orient="records"))
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("CAIRN_API_KEY", None)
    server = subprocess.Popen([sys.executable, "-m", "cairn.cli", "serve", "-p", str(project / "cairn.yaml"),
                               "--port", str(port), "--workers", str(WORKERS)],
                              cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server)
        deadline = time.monotonic() + 30
        while len(_workers_of(server.pid)) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_workers_of(server.pid)) == WORKERS
        for _ in range(20):  # each worker ready (warmed up) before the load
            assert httpx.get(f"{base}/ready").status_code == 200

        batches = [records[i:i + 1 + i % 4] for i in range(0, 160, 4)]  # 40 requests of 1 to 4 records

        def post(batch):
            with httpx.Client(base_url=base, timeout=30) as client:
                return client.post("/predict", json=batch if len(batch) > 1 else batch[0])

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, batches))
        assert [answer.status_code for answer in answers] == [200] * len(batches)
        sent = sum(len(batch) for batch in batches)
        served = Project.load(project / "cairn.yaml")
        log = served.prediction_log_path(served.load_model())
        lines = _log_lines(log, sent)
        assert len(lines) == sent
        logged = [json.loads(line) for line in lines]  # every line whole: none cut or interleaved
        assert all(set(entry["record"]) <= set(rows.columns) and entry["prediction"] > 0 for entry in logged)
        assert sorted(entry["record"]["Gr_Liv_Area"] for entry in logged) == \
            sorted(float(record["Gr_Liv_Area"]) for batch in batches for record in batch)

        # a request in flight when SIGTERM arrives: its headers and half its body sent, the rest after the signal
        body = json.dumps(records[160:165]).encode()
        slow = socket.create_connection(("127.0.0.1", port), timeout=20)
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2])
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert server.poll() is None  # still finishing the request in flight
        slow.sendall(body[len(body) // 2:])
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
        slow.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:300]
        assert len(json.loads(payload)["predictions"]) == 5
        assert server.wait(timeout=20) == 0
        assert len(_log_lines(log, sent + 5)) == sent + 5  # its lines logged before the worker stopped
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/health", timeout=1)
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate(timeout=10)[0].decode()
    assert f"{WORKERS} worker processes" in output and "Traceback" not in output, output

"""Serving under load (issue 14, "Speed"): `cairn serve` with 1 and 2 workers beside `mlflow models serve` of the
same model exported with `cairn export --format mlflow`, at concurrency 1 and 8, over loopback.

1. Trains the example's quick variant (one LightGBM, one trial; bench/batch.py's `trained_project`, reused when it
   is there), copies it (the servers' prediction logs go to the copy) and exports it with `cairn export --format
   mlflow`.
2. Starts each server in turn, alone on the machine, as a user does: `cairn serve [--workers 2]` from this venv,
   `mlflow models serve -m DIR --env-manager local` (uvicorn, MLflow's default of one worker; with
   `--mlflow-workers 2` also two) from MLflow's own venv, which has cairn installed to load the pyfunc.
3. For each concurrency, a load generator in this process: `concurrency` clients, each on its own keep-alive
   connection, send one-record bodies back to back (a warm-up first, untimed), for `--seconds`. Each request is
   timed from its first byte written to its last byte read. The client is asyncio over raw HTTP/1.1 (requests
   prebuilt, responses read by Content-Length): a few tens of microseconds per request, where httpx would spend
   several hundred on the same two cores the servers run on and cap the throughput it measures.
4. Prints p50 and p99 (ms), requests/s, and the server's memory after the load: RSS summed over its process tree
   (the parent and its workers; shared pages counted in each) and PSS (shared pages split), in MiB; and for
   several workers the share of the server's CPU time each spent (keep-alive connections stay on the worker that
   accepted them).

The same records go to both: rows of the Ames data without the target, every input of the signature present
(null where missing), cairn as `POST /predict {record}`, MLflow as `POST /invocations {"dataframe_records":
[record]}`.

Goals (issue 14), as ratios in one run: cairn's p99 at concurrency 1 at least 10x lower than MLflow's; cairn's
throughput with 2 workers at concurrency 8 at least 10x MLflow's; cairn's one-record p99 under 2 ms.

Setup (bench only, never a cairn dependency):
    python3 -m venv /tmp/venv-mlflow && /tmp/venv-mlflow/bin/pip install mlflow && \
        /tmp/venv-mlflow/bin/pip install -e /work/main
Run: .venv/bin/python bench/serve_load.py [--seconds 10] [--mlflow-python /tmp/venv-mlflow/bin/python]
     [--mlflow-workers 2] [--json out.json]                      (~3 min; no other benchmark at the same time)
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # pinned before numpy and LightGBM load, and inherited by the servers
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import asyncio
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch import trained_project

WORK = Path("/tmp/cairn-bench/serve_load")
MLFLOW_PYTHON = Path("/tmp/venv-mlflow/bin/python")
RECORDS = 500
WARMUP_S = 2.0
GOAL_P99_RATIO = 10.0
GOAL_THROUGHPUT_RATIO = 10.0
GOAL_P99_MS = 2.0


@dataclass
class Server:
    """One server under test: how to start it, where it answers, what a request looks like."""

    name: str
    command: list[str]
    path: str  # the prediction route
    ready: str  # a GET that answers 200 once the model is loaded
    wrap: bool  # MLflow's body: {"dataframe_records": [record]}
    workers: int
    processes: int  # in its process tree once every worker runs
    cwd: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: Path = field(default_factory=Path)


# The load generator


def prebuilt_requests(path: str, bodies: list[bytes]) -> list[bytes]:
    return [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]


async def _client(port: int, requests: list[bytes], offset: int, until: float, timings: list[float] | None) -> int:
    """One client on one keep-alive connection, sending until `until`; returns the requests answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        while time.perf_counter() < until:
            request = requests[(offset + sent) % len(requests)]
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"no Content-Length in {head[:200]!r}")
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{head[:200]!r} {body[:300]!r}")
            if timings is not None:
                timings.append((time.perf_counter() - began) * 1000)
            sent += 1
    finally:
        writer.close()
    return sent


async def _load(port: int, requests: list[bytes], concurrency: int, seconds: float) -> tuple[list[float], float]:
    """A warm-up, then `concurrency` clients for `seconds`: the timings (ms) and the requests per second."""
    until = time.perf_counter() + WARMUP_S
    await asyncio.gather(*(_client(port, requests, 37 * i, until, None) for i in range(concurrency)))
    timings: list[float] = []
    began = time.perf_counter()
    until = began + seconds
    counts = await asyncio.gather(*(_client(port, requests, 37 * i, until, timings) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    return timings, sum(counts) / elapsed


# Servers and their processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(server: Server) -> None:
    import httpx

    server.port = free_port()
    server.log = WORK / f"{server.name.replace(' ', '-')}.log"
    command = [part.replace("{port}", str(server.port)) for part in server.command]
    environment = {name: value for name, value in os.environ.items() if name != "CAIRN_API_KEY"}
    # `mlflow models serve` runs `uvicorn` from PATH: its venv's bin first
    environment["PATH"] = f"{Path(command[0]).parent}{os.pathsep}{environment.get('PATH', '')}"
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(command, cwd=server.cwd, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, env=environment)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} stopped: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{server.port}{server.ready}", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    else:
        raise RuntimeError(f"{server.name} did not start: {server.log.read_text()[-2000:]}")
    deadline = time.monotonic() + 60  # every worker up (each loads the model) before any load
    while len(tree(server.process.pid)) < server.processes:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: not all {server.workers} workers started")
        time.sleep(0.3)
    time.sleep(2.0)


def stop(server: Server) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def memory_mib(pid: int) -> tuple[float, float]:
    """RSS and PSS summed over the process tree of `pid`, MiB."""
    rss = pss = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def cpu_ticks(pid: int) -> dict[int, int]:
    """User and system clock ticks of each process in the tree of `pid`."""
    ticks = {}
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[member] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks


# The bench


def records_of(folder: Path, count: int) -> list[dict[str, Any]]:
    """`count` Ames rows as records of the model's inputs: every input present, null where the value is missing,
    text where the MLflow signature says string."""
    from cairn.project.api import Project
    from cairn.project.export_mlflow import signature_columns

    model = Project.load(folder / "cairn.yaml").load_model()
    columns = signature_columns(model)
    table = pd.read_csv(folder / "data" / "ames.csv.gz").sample(count, random_state=7)
    records = []
    for row in table.to_dict("records"):
        record: dict[str, Any] = {}
        for name, kind in columns:
            value = row.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                record[name] = None
            else:
                record[name] = float(value) if kind == "double" else str(value)
        records.append(record)
    return records


def export_mlflow(folder: Path) -> Path:
    target = WORK / "mlflow-model"
    subprocess.run([sys.executable, "-m", "cairn.cli", "export", "--format", "mlflow", "--to", str(target),
                    "--force", "-p", str(folder / "cairn.yaml")], check=True, capture_output=True)
    return target


def servers(folder: Path, model: Path, mlflow_python: Path, mlflow_workers: int) -> list[Server]:
    cairn = [sys.executable, "-m", "cairn.cli", "serve", "-p", str(folder / "cairn.yaml"), "--port", "{port}"]
    mlflow = [str(mlflow_python), "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local",
              "-h", "127.0.0.1", "-p", "{port}"]
    # processes: cairn's parent and its workers; `mlflow models serve` and the uvicorn it starts, and its workers
    found = [Server("cairn 1 worker", cairn, "/predict", "/ready", False, 1, 1, folder),
             Server("cairn 2 workers", [*cairn, "--workers", "2"], "/predict", "/ready", False, 2, 3, folder),
             Server("mlflow 1 worker", mlflow, "/invocations", "/ping", True, 1, 2, WORK)]
    if mlflow_workers > 1:
        found.append(Server(f"mlflow {mlflow_workers} workers", [*mlflow, "-w", str(mlflow_workers)],
                            "/invocations", "/ping", True, mlflow_workers, 2 + mlflow_workers, WORK))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed load per server and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--mlflow-python", type=Path, default=MLFLOW_PYTHON)
    parser.add_argument("--mlflow-workers", type=int, default=2, help="also MLflow with this many workers (1: not)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--servers", nargs="+", help="only the servers whose name starts so (e.g. cairn)")
    arguments = parser.parse_args()
    if not arguments.mlflow_python.exists():
        sys.exit(f"no MLflow venv at {arguments.mlflow_python}: see the setup in this file's docstring")
    WORK.mkdir(parents=True, exist_ok=True)
    folder = WORK / "hp"  # a copy: the prediction logs this writes stay out of bench/batch.py's project
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(trained_project(), folder)
    model = export_mlflow(folder)
    records = records_of(folder, RECORDS)
    cairn_bodies = [json.dumps(record).encode() for record in records]
    mlflow_bodies = [json.dumps({"dataframe_records": [record]}).encode() for record in records]
    load = asyncio.new_event_loop()

    rows = []
    for server in servers(folder, model, arguments.mlflow_python, arguments.mlflow_workers):
        if arguments.servers and not any(server.name.startswith(name) for name in arguments.servers):
            continue
        requests = prebuilt_requests(server.path, mlflow_bodies if server.wrap else cairn_bodies)
        start(server)
        try:
            assert server.process is not None
            for concurrency in arguments.concurrency:
                before = cpu_ticks(server.process.pid)
                timings, throughput = load.run_until_complete(
                    _load(server.port, requests, concurrency, arguments.seconds))
                after = cpu_ticks(server.process.pid)
                spent = {pid: after[pid] - before.get(pid, 0) for pid in after}
                busy = sorted((value for value in spent.values() if value > 0), reverse=True)
                shares = [round(value / sum(busy), 2) for value in busy] if sum(busy) else []
                rss, pss = memory_mib(server.process.pid)
                p50, p99 = (float(value) for value in np.percentile(timings, (50, 99)))
                row = {"server": server.name, "concurrency": concurrency, "requests": len(timings),
                       "p50_ms": p50, "p99_ms": p99, "requests_per_s": throughput, "rss_mib": rss,
                       "pss_mib": pss, "cpu_shares": shares}
                rows.append(row)
                print(f"{server.name:<17} c={concurrency:<2} {len(timings):>6} requests  p50 {p50:7.2f} ms  "
                      f"p99 {p99:7.2f} ms  {throughput:8.0f} req/s  RSS {rss:6.0f} MiB  PSS {pss:6.0f} MiB  "
                      f"CPU shares {shares}", flush=True)
        finally:
            stop(server)
    load.close()

    def figure(name: str, concurrency: int, key: str) -> float:
        return float(next(row[key] for row in rows if row["server"] == name and row["concurrency"] == concurrency))

    print()
    print(f"{'server':<17}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'RSS MiB':>9}{'PSS MiB':>9}")
    for row in rows:
        print(f"{row['server']:<17}{row['concurrency']:>5}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['requests_per_s']:>9.0f}{row['rss_mib']:>9.0f}{row['pss_mib']:>9.0f}")
    goals = {}
    if {1, 8} <= set(arguments.concurrency) and not arguments.servers:
        p99_ratio = figure("mlflow 1 worker", 1, "p99_ms") / figure("cairn 1 worker", 1, "p99_ms")
        throughput_ratio = (figure("cairn 2 workers", 8, "requests_per_s")
                            / figure("mlflow 1 worker", 8, "requests_per_s"))
        p99 = figure("cairn 1 worker", 1, "p99_ms")
        goals = {"p99_ratio_c1": p99_ratio, "throughput_ratio_c8_2_workers": throughput_ratio,
                 "cairn_one_record_p99_ms": p99}
        print()
        print(f"p99 at concurrency 1: mlflow / cairn = {p99_ratio:.1f}x "
              f"({'meets' if p99_ratio >= GOAL_P99_RATIO else 'misses'} the {GOAL_P99_RATIO:g}x goal)")
        print(f"throughput at concurrency 8: cairn 2 workers / mlflow = {throughput_ratio:.1f}x "
              f"({'meets' if throughput_ratio >= GOAL_THROUGHPUT_RATIO else 'misses'} the "
              f"{GOAL_THROUGHPUT_RATIO:g}x goal)")
        print(f"cairn one-record p99: {p99:.2f} ms ({'meets' if p99 < GOAL_P99_MS else 'misses'} the "
              f"{GOAL_P99_MS:g} ms goal)")
        if arguments.mlflow_workers > 1:
            name = f"mlflow {arguments.mlflow_workers} workers"
            print(f"beside MLflow with as many workers: throughput at concurrency 8 "
                  f"{figure('cairn 2 workers', 8, 'requests_per_s') / figure(name, 8, 'requests_per_s'):.1f}x")
    if arguments.json:
        arguments.json.write_text(json.dumps({"rows": rows, "goals": goals}, indent=2))


if __name__ == "__main__":
    main()

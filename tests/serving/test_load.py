"""Load on a real server: one-record requests at concurrency 8 against ``serve`` in its own process.

The server runs as ``cairn serve`` does (a bundle loaded from the store's files, ``serve`` on uvicorn), in a
subprocess so that its resident memory can be read from /proc. The promise: no request fails, and once warmed up
the server's RSS grows by less than 10% over the run. p50 and p99 latency (as the client sees them) are printed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.serving.test_app import serve_bundle_in_subprocess
from tests.serving.test_fuzz import AMES, CATEGORIES, NUMBERS, small_model

CONCURRENCY = 8
WARM_UP = 500
RSS_GROWTH = 0.10

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")


@dataclass
class Server:
    url: str
    pid: int


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server in a subprocess, so its memory can be read from /proc."""
    process, url = serve_bundle_in_subprocess(small_model(), tmp_path_factory.mktemp("store"))
    try:
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def bodies() -> list[bytes]:
    """1,000 different one-record bodies from Ames rows, a few with missing or unseen values."""
    table = pd.read_csv(AMES, nrows=1_000)
    records = json.loads(table[NUMBERS + CATEGORIES].to_json(orient="records"))
    for position in range(0, len(records), 50):
        records[position]["Neighborhood"] = None if position % 100 else "Atlantis"
        del records[position]["Lot_Area"]
    return [json.dumps(record).encode() for record in records]


@dataclass
class Outcome:
    latencies: list[float]
    errors: list[str]
    seconds: float


def hammer(url: str, bodies: list[bytes], requests: int, *, deadline: float) -> Outcome:
    """``requests`` POST /predict of one record each, from CONCURRENCY threads with a keep-alive client each."""
    latencies: list[list[float]] = [[] for _ in range(CONCURRENCY)]
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30, headers={"Content-Type": "application/json"}) as http:
            for number in range(index, requests, CONCURRENCY):
                if time.monotonic() > deadline:
                    with lock:
                        errors.append("out of time")
                    return
                body = bodies[number % len(bodies)]
                started = time.perf_counter()
                try:
                    answer = http.post("/predict", content=body)
                    ok = answer.status_code == 200 and isinstance(answer.json().get("prediction"), float)
                    problem = "" if ok else f"{answer.status_code}: {answer.text[:200]}"
                except (httpx.HTTPError, ValueError) as error:
                    problem = repr(error)
                latencies[index].append(time.perf_counter() - started)
                if problem:
                    with lock:
                        errors.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    return Outcome([value for chunk in latencies for value in chunk], errors, time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def run_load(server: Server, bodies: list[bytes], requests: int, budget: float) -> None:
    warm = hammer(server.url, bodies, WARM_UP, deadline=time.monotonic() + budget)
    assert not warm.errors, warm.errors[:5]
    before = rss_bytes(server.pid)
    outcome = hammer(server.url, bodies, requests, deadline=time.monotonic() + budget)
    after = rss_bytes(server.pid)
    growth = (after - before) / before
    p50, p99 = percentile(outcome.latencies, 0.50), percentile(outcome.latencies, 0.99)
    print(f"\nload: {requests:,} one-record requests at concurrency {CONCURRENCY} in {outcome.seconds:.1f} s "
          f"({requests / outcome.seconds:,.0f}/s), {len(outcome.errors)} errors; latency p50 {p50 * 1000:.2f} ms, "
          f"p99 {p99 * 1000:.2f} ms, max {max(outcome.latencies) * 1000:.1f} ms; server RSS after warm-up "
          f"{before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB ({growth:+.1%})")
    assert not outcome.errors, f"{len(outcome.errors)} errors, the first: {outcome.errors[:5]}"
    assert len(outcome.latencies) == requests
    assert growth < RSS_GROWTH


def test_a_thousand_requests_at_concurrency_8_without_errors_or_memory_growth(server: Server,
                                                                              bodies: list[bytes]) -> None:
    run_load(server, bodies, 1_000, budget=120)


@pytest.mark.bench
def test_ten_thousand_requests_at_concurrency_8_without_errors_or_memory_growth(server: Server,
                                                                                bodies: list[bytes]) -> None:
    run_load(server, bodies, 10_000, budget=600)

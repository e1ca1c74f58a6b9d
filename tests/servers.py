"""`cairn serve` (or any cairn command that serves) started for real in its own process, on a free loopback port."""

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# `make test` runs two pytest-xdist workers. A port the OS hands out (bind to 0) is free only until a server takes
# it, seconds later after its imports, and the other worker could be handed the same one meanwhile; its server would
# then answer our health checks. So each worker hands out ports from its own block, below Linux's ephemeral range
# (32768-60999) where bind-to-0 ports land, and never the same one twice.
PORT_BLOCK_START, PORT_BLOCK_SIZE = 20_000, 1_500
_handed_out = itertools.count()


def free_port() -> int:
    """A loopback port free now, from this test worker's own block (gw0, gw1, ...; one process: the first)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = PORT_BLOCK_START + PORT_BLOCK_SIZE * (int(worker) % 8 if worker.isdigit() else 0)  # 8 blocks: < 32,768
    for _ in range(PORT_BLOCK_SIZE):
        port = start + next(_handed_out) % PORT_BLOCK_SIZE
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken by something outside the tests
        return port
    raise RuntimeError(f"no free loopback port in {start}-{start + PORT_BLOCK_SIZE - 1}")


def wait_until_healthy(base: str, process: subprocess.Popen) -> None:
    """A real `cairn serve` answers /health within a minute, or the test fails with what it printed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:  # an exited server would never answer
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    pytest.fail(f"cairn serve did not start: {process.communicate(timeout=10)[0].decode()}")


def start_serve(project_file: Path, *args: str, cwd: Path | None = None,
                drop_env: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, int]:
    """`cairn serve -p PROJECT_FILE --port FREE ARGS...` running and healthy: (process, base URL, port). One thread
    per library; `drop_env` names variables the server must not inherit."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in drop_env:
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli", "serve", "-p", str(project_file), "--port", str(port), *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, process)
    return process, base, port


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

"""`cairn serve` (or any cairn command that serves) started for real in its own process, on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(base: str, process: subprocess.Popen) -> None:
    """A real `cairn serve` answers /health within a minute, or the test fails with what it printed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
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

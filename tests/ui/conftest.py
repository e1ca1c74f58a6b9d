"""A project with three runs and three model versions, and `cairn ui` started over it for real (a subprocess on a
free port), shared by the UI tests of a module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from cairn.project.api import Project
from tests.servers import free_port

CAIRN = Path(sys.executable).parent / "cairn"


@dataclass
class RunningUI:
    url: str
    process: subprocess.Popen[str]
    folder: Path


def edit_config(folder: Path, **changes: object) -> None:
    """Set keys of the folder's cairn.yaml: `business__success=[...]` sets business.success."""
    path = folder / "cairn.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        section = config
        for parent in parents:
            section = section.setdefault(parent, {})
        section[last] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@contextmanager
def running_ui(folder: Path, *, host: str = "127.0.0.1", env: dict[str, str] | None = None,
               options: tuple[str, ...] = ()) -> Iterator[RunningUI]:
    """`cairn ui` on a free port, until it answers; stopped (its own process only) afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [str(CAIRN), "ui", "-p", str(folder / "cairn.yaml"), "--host", host, "--port", str(port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"cairn ui exited {process.returncode}: {out}{err}")
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("cairn ui did not answer within 30 s") from None
                time.sleep(0.1)
        yield RunningUI(url, process, folder)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture(scope="session")
def three_runs_pristine(quick_house_prices, tmp_path_factory) -> Path:
    """A copy of the quick example with three runs: 1 (v1, the champion), 2 (another seed: v2, the challenger,
    which ships) and 3 (an objective nobody meets: v3, registered but does not ship). Never written to: the
    modules that change it take a copy (`three_runs`)."""
    folder = tmp_path_factory.mktemp("ui") / "hp"
    shutil.copytree(quick_house_prices, folder)
    edit_config(folder, seed=7)
    Project.load(folder / "cairn.yaml").run()
    edit_config(folder, seed=8, business__success=[{"metric": "mape", "below": 0.001}])
    Project.load(folder / "cairn.yaml").run()
    return folder


@pytest.fixture(scope="module")
def three_runs(three_runs_pristine, tmp_path_factory) -> Path:
    """The three-run project, copied for one module (promote and rollback write to its store)."""
    folder = tmp_path_factory.mktemp("ui-module") / "hp"
    shutil.copytree(three_runs_pristine, folder)
    return folder

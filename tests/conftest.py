"""Shared fixtures: a real headless Chromium for tests that must see what a person sees, and the house-price
example run once per session (the full one, and a quick one with one cheap candidate)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.project.api import Project
from tests.examples import QUICK, copy_example

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> Path:
    """The system Chromium; a missing browser fails the test, it does not skip it."""
    found = Path("/usr/bin/chromium") if Path("/usr/bin/chromium").exists() else None
    found = found or next((Path(p) for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    if found is None:
        pytest.fail(
            "Chromium is not installed: run `apt-get install -y chromium` (make test does this).", pytrace=False
        )
    return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium via Playwright, per module: the sync API must not outlive other modules' loops."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# the house-price example run once per session, shared by every test that only reads its results ----------
@pytest.fixture(scope="session")
def house_prices(tmp_path_factory):
    """(project folder, first run) for the full example."""
    folder = copy_example(tmp_path_factory.mktemp("example") / "house-prices")
    project = Project.load(folder / "cairn.yaml")
    events = []
    run = project.run(progress=events.append)
    return folder, run, events


@pytest.fixture(scope="session")
def quick_house_prices(tmp_path_factory):
    """The example with one cheap candidate (tests.examples.QUICK), run once: a production version in seconds."""
    folder = copy_example(tmp_path_factory.mktemp("quick") / "hp", **QUICK)
    Project.load(folder / "cairn.yaml").run()
    return folder

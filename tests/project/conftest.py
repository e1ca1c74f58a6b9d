"""A copy of the house-price example run once per session, shared by the tests that only read its results."""

import pytest

from cairn.project.api import Project
from tests.examples import copy_example


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
    from tests.examples import QUICK

    folder = copy_example(tmp_path_factory.mktemp("quick") / "hp", **QUICK)
    Project.load(folder / "cairn.yaml").run()
    return folder

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

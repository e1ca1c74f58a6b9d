"""The store's fixtures: a fresh database on the real PostgreSQL at 127.0.0.1:5432, and a store over either."""

import pytest

from cairn.store import Store
from tests.databases import fresh_postgres_database


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh database per module on the real server, dropped afterwards."""
    with fresh_postgres_database("cairn_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The URL of an empty store: a SQLite file, or a fresh PostgreSQL database shared by the module's tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cairn.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url, tmp_path):
    opened = Store.open(store_url, tmp_path / "artifacts")
    yield opened
    opened.close()

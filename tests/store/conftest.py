"""The store's fixtures: a fresh database on the real PostgreSQL at 127.0.0.1:5432, and a store over either."""

import uuid

import pytest
import sqlalchemy as sa

from cairn.store import Store

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh database per module on the real server, dropped afterwards."""
    name = f"cairn_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    yield f"{POSTGRES}/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


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

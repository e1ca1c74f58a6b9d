"""Alembic's entry point. cairn passes the connection it holds (with the migration lock taken) in
`config.attributes["connection"]`; a developer running the `alembic` command names the store in CAIRN_STORE."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from cairn.store.tables import Base
from cairn.urls import engine_url


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("CAIRN_STORE")
    if not url:
        raise SystemExit("set CAIRN_STORE to the store's URL (e.g. sqlite:///.cairn/cairn.db)")
    engine = create_engine(engine_url(url))
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    # SQLite alters a table by copying it (batch mode): the only way its ALTER TABLE goes beyond ADD COLUMN
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

"""The store's schema version: where a store stands, and bringing it to the version this cairn knows (Alembic).

A store is upgraded on first use (`Store.open`) or by `cairn db upgrade`. A store made before migrations existed
(cairn's tables, no `alembic_version`) is adopted by the baseline migration, which creates only what it lacks.
Before a SQLite store with data is changed, it is copied to `cairn.db.bak-<UTC time>` beside it (SQLite's backup
API: a consistent copy even while others read). A PostgreSQL store is not copied: back it up with pg_dump before
`cairn db upgrade` if it matters. A store whose revision this cairn does not know was made by a newer cairn:
opening it is a StoreError (nothing is changed), never a guess.

Two processes opening a store for the first time at once: the check-and-upgrade holds the database's own lock (a
SQLite write transaction begun IMMEDIATE; a PostgreSQL transaction-level advisory lock), and the one that waited
reads the revision again and finds nothing to do. Alembic's DDL runs inside that one transaction (both databases
have transactional DDL), so a crash leaves the store as it was.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

from cairn.errors import StoreError
from cairn.store.tables import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# The advisory lock's key on PostgreSQL: any constant shared by every cairn ("cairn" in ASCII).
ADVISORY_LOCK_KEY = 0x636169726E
BACKUP_SUFFIX = ".bak-"


@dataclass(frozen=True)
class SchemaState:
    """Where a store stands. `revision` None: no version recorded (an empty database, or one made before
    migrations when `has_tables`)."""

    revision: str | None
    head: str
    has_tables: bool
    known: bool  # this cairn knows the revision (False: a newer cairn made the store)
    unmigrated_tables: tuple[str, ...] = ()  # in tables.py but made by no migration yet (see migrations/)

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head and not self.unmigrated_tables

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "head": self.head, "up_to_date": self.up_to_date,
                "made_before_migrations": self.revision is None and self.has_tables, "known": self.known}


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade_schema` did: from which revision to which, and the SQLite backup made first."""

    before: str | None
    after: str
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "changed": self.changed,
                "backup": str(self.backup) if self.backup else None}


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration in code: the migrations shipped in the package; cairn needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _revisions() -> tuple[str, frozenset[str]]:
    """The head and every revision this cairn knows (read once: the files do not change in a process)."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    if len(heads) != 1:  # a developer's mistake (two migrations with the same down_revision), never a user's
        raise RuntimeError(f"the store migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0], frozenset(s.revision for s in script.walk_revisions())


def head_revision() -> str:
    return _revisions()[0]


def schema_state(engine: Engine) -> SchemaState:
    """Where the store stands; reads only."""
    with engine.connect() as connection:
        return _state(connection)


def _state(connection: Connection) -> SchemaState:
    head, known = _revisions()
    tables = set(inspect(connection).get_table_names())
    revision = MigrationContext.configure(connection).get_current_revision() if VERSION_TABLE in tables else None
    ours = tables - {VERSION_TABLE}
    unmigrated = tuple(sorted(set(Base.metadata.tables) - ours)) if revision == head else ()
    return SchemaState(revision=revision, head=head, has_tables=bool(ours & set(Base.metadata.tables)),
                       known=revision is None or revision in known, unmigrated_tables=unmigrated)


def refuse_newer(state: SchemaState, *, where: str) -> None:
    if not state.known:
        raise StoreError.single(
            "The store was made by a newer cairn: this one does not know its schema revision.", where=where,
            expected=f"schema revision {state.head} or older", got=f"revision {state.revision}",
            fix="upgrade cairn (pip install -U cairn) on this machine; the store is left as it is",
        )


def upgrade_schema(engine: Engine, *, where: str = "store") -> Upgrade:
    """Bring the store to this cairn's head revision (see the module docstring). Cheap when it is there already:
    one read, no lock."""
    state = schema_state(engine)
    refuse_newer(state, where=where)
    if state.up_to_date:
        return Upgrade(state.revision, state.head, None)
    with _migration_lock(engine) as connection:
        state = _state(connection)  # again, under the lock: another process may have done it meanwhile
        refuse_newer(state, where=where)
        backup = None
        if state.revision != state.head:
            if state.has_tables and engine.dialect.name == "sqlite":
                backup = _backup_sqlite(engine)
            command.upgrade(alembic_config(connection), "head")
            log.info("Upgraded the store's schema from %s to %s", state.revision or "before migrations",
                     state.head)
        _create_unmigrated_tables(connection)
    return Upgrade(state.revision, state.head, backup)


def _create_unmigrated_tables(connection: Connection) -> None:
    """Tables declared in tables.py that no migration makes yet (a development state: see the migrations'
    docstring) are made as declared, so code and tests using them work until their migration is written."""
    missing = [table for name, table in Base.metadata.tables.items()
               if not inspect(connection).has_table(name)]
    if missing:
        Base.metadata.create_all(connection, tables=missing)
        log.info("Created table(s) %s, which no store migration makes yet",
                 ", ".join(table.name for table in missing))


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """One connection, in one transaction that holds the database's lock for schema changes until it commits."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # Foreign keys off while the schema changes: SQLite alters a table by copying it, and dropping the old
            # copy with foreign keys on would cascade deletes. The pragma is ignored inside a transaction, so it is
            # set before BEGIN and restored after the commit.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                with connection.begin():
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    yield connection
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
        else:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})"))
                yield connection


def _backup_sqlite(engine: Engine) -> Path | None:
    """A consistent copy of the SQLite file beside it, `cairn.db.bak-<UTC time>`, before its schema changes."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    source_path = Path(database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source_path.with_name(f"{source_path.name}{BACKUP_SUFFIX}{stamp}")
    counter = 1
    while target.exists():
        target = source_path.with_name(f"{source_path.name}{BACKUP_SUFFIX}{stamp}-{counter}")
        counter += 1
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    log.warning("The store's schema is being upgraded; a copy of it as it was is at %s", target)
    return target

"""The store's schema under Alembic (issue 15): a fresh store, a store of the release before migrations, a store of
a newer cairn, and several processes opening a store for the first time at once; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import StoreError
from cairn.project.api import Project
from cairn.store import Store
from cairn.store.migrate import alembic_config, head_revision, schema_state
from cairn.store.repository import open_engine
from cairn.store.tables import Base
from tests.databases import fresh_postgres_database
from tests.store import release_0_2_tables as release

# Tables declared in tables.py that no migration makes yet (Store.open makes them with create_all meanwhile). Issue
# 15: the monitoring tables of issue 15's feedback work, whose migration the lead writes; empty this with it.
AWAITING_MIGRATION: set[str] = set()
HEAD = "0004"  # the newest migration: move it with each new one


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database of its own for each test: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cairn.db'}"
        return
    with fresh_postgres_database("cairn_migrate") as url:
        yield url


def _differences(engine: sa.Engine, metadata: sa.MetaData) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)


def _table_of(difference) -> str:
    """The table a difference found by Alembic's autogenerate is about."""
    kind, target = difference[0], difference[1]
    return target.name if kind.endswith("table") else target.table.name


def test_the_migrations_make_exactly_the_tables(empty_url):
    """Upgrading an empty database with the migrations alone gives what tables.py declares (but the tables still
    waiting for their migration), and a store opened after that has them too."""
    engine = open_engine(empty_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        state = schema_state(engine)
        assert (state.revision, state.head) == (head_revision(), head_revision()) == (HEAD, HEAD)
        differences = _differences(engine, Base.metadata)
        assert {_table_of(d) for d in differences} <= AWAITING_MIGRATION, differences
        assert state.unmigrated_tables == tuple(sorted(AWAITING_MIGRATION & set(Base.metadata.tables)))
        store = Store.open(empty_url, Path("/nonexistent-artifacts"))  # makes the awaiting ones, changes no other
        store.close()
        assert _differences(engine, Base.metadata) == []
        assert schema_state(engine).up_to_date
    finally:
        engine.dispose()


def test_the_release_tables_are_what_the_baseline_makes(empty_url):
    """The baseline (0001) is the schema of the release before migrations, table for table, column for column."""
    engine = open_engine(empty_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
        assert _differences(engine, release.Base.metadata) == []
    finally:
        engine.dispose()


# A store of the release before migrations, with real runs and models --------------------------------------------
def _as_release_store(database: Path) -> None:
    """Turn a store the current cairn made into one the release made: no alembic_version, none of the later
    tables and columns."""
    connection = sqlite3.connect(database)
    try:
        connection.execute("DROP TABLE alembic_version")
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if name not in release.Base.metadata.tables and not name.startswith("sqlite_"):
                connection.execute(f"DROP TABLE {name}")
        connection.execute("ALTER TABLE cairn_runs DROP COLUMN artifacts_collected_at")
        connection.commit()
    finally:
        connection.close()


@pytest.fixture
def release_project(quick_house_prices, tmp_path):
    """(folder, what the project reads back) of a copy of the quick example whose store is as the release made it."""
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    project = Project.load(folder / "cairn.yaml")
    original = _everything(project)
    _as_release_store(folder / ".cairn" / "cairn.db")
    engine = open_engine(f"sqlite:///{folder / '.cairn' / 'cairn.db'}")
    try:
        assert _differences(engine, release.Base.metadata) == []  # the release's schema exactly
        assert schema_state(engine).revision is None
    finally:
        engine.dispose()
    return folder, original


def _everything(project: Project) -> dict:
    """Every run (with its stages, metrics, manifest), every model version, and the production model's answers."""
    runs = project.runs(limit=1000)
    models = project.models()
    table = project.read_table(project.base_dir / "data" / "ames.csv.gz").head(200)
    answers = {m.version: np.asarray(project.load_model(m.version).predict(table)) for m in models}
    return {"runs": {r.id: project.show(r.id) for r in runs}, "models": models, "answers": answers}


def _same(read_back: dict, original: dict) -> None:
    assert read_back["runs"] == original["runs"] and len(original["runs"]) >= 1
    assert read_back["models"] == original["models"] and len(original["models"]) >= 1
    assert read_back["answers"].keys() == original["answers"].keys()
    for version, answers in original["answers"].items():
        np.testing.assert_array_equal(read_back["answers"][version], answers)


def test_a_release_sqlite_store_is_copied_then_upgraded_and_reads_back(release_project):
    folder, original = release_project
    project = Project.load(folder / "cairn.yaml")
    _same(_everything(project), original)  # the first use upgrades it
    backups = list((folder / ".cairn").glob("cairn.db.bak-*"))
    assert len(backups) == 1
    copy = sa.create_engine(f"sqlite:///{backups[0]}")
    try:
        assert _differences(copy, release.Base.metadata) == []  # the copy is the store as it was
        assert sa.inspect(copy).get_table_names() == sorted(release.Base.metadata.tables)
        with copy.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM cairn_runs")) == len(original["runs"])
    finally:
        copy.dispose()
    assert project.store_schema().up_to_date
    again = Project.load(folder / "cairn.yaml")
    again.show("latest")
    assert len(list((folder / ".cairn").glob("cairn.db.bak-*"))) == 1  # an up-to-date store is not copied again


def test_a_release_postgresql_store_is_upgraded_and_reads_back(release_project):
    """The release's tables made on PostgreSQL, filled with the same rows; cairn opens it through --set store."""
    folder, original = release_project
    with fresh_postgres_database("cairn_release") as url:
        source = sa.create_engine(f"sqlite:///{folder / '.cairn' / 'cairn.db'}")
        target = open_engine(url)
        try:
            release.Base.metadata.create_all(target)
            with source.connect() as reading, target.begin() as writing:
                for table in release.Base.metadata.sorted_tables:
                    rows = [{k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
                             for k, v in row._mapping.items()} for row in reading.execute(sa.select(table))]
                    if rows:
                        writing.execute(table.insert(), rows)
            assert schema_state(target).revision is None and schema_state(target).has_tables
            project = Project.load(folder / "cairn.yaml", overrides={"store": url})
            assert project.store_url == url and project.setting("store").origin == "--set"
            _same(_everything(project), original)
            assert schema_state(target).up_to_date and schema_state(target).revision == head_revision()
            assert not list((folder / ".cairn").glob("cairn.db.bak-*"))  # nothing of SQLite's was touched
        finally:
            source.dispose()
            target.dispose()


def test_db_current_and_upgrade_on_a_release_store(release_project):
    folder, _ = release_project
    runner = CliRunner()
    project_file = str(folder / "cairn.yaml")
    before = runner.invoke(app, ["db", "current", "-p", project_file, "--json"])
    assert before.exit_code == 3, before.output  # ran, and the answer is no: it needs an upgrade
    assert json.loads(before.stdout) | {"store": None} == {
        "revision": None, "head": HEAD, "up_to_date": False, "made_before_migrations": True, "known": True,
        "store": None}
    assert not list((folder / ".cairn").glob("cairn.db.bak-*"))  # `current` changes nothing
    done = runner.invoke(app, ["db", "upgrade", "-p", project_file, "--json"])
    assert done.exit_code == 0, done.output
    upgrade = json.loads(done.stdout)
    assert (upgrade["before"], upgrade["after"], upgrade["changed"]) == (None, HEAD, True)
    assert Path(upgrade["backup"]).exists() and Path(upgrade["backup"]).parent == folder / ".cairn"
    after = runner.invoke(app, ["db", "current", "-p", project_file])
    assert after.exit_code == 0 and f"revision {HEAD}; this cairn: {HEAD}" in after.stdout
    assert "up to date" in runner.invoke(app, ["db", "upgrade", "-p", project_file]).stdout


def test_a_store_made_by_a_newer_cairn_is_refused_and_left_alone(empty_url, tmp_path):
    Store.open(empty_url, tmp_path / "artifacts").close()
    engine = open_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
            connection.execute(sa.text("ALTER TABLE cairn_runs ADD COLUMN from_the_future INTEGER"))
        tables = set(sa.inspect(engine).get_table_names())
        with pytest.raises(StoreError) as raised:
            Store.open(empty_url, tmp_path / "artifacts")
        text = str(raised.value)
        assert "newer cairn" in text and "revision 0099" in text and f"{HEAD} or older" in text
        assert "upgrade cairn" in text
        assert set(sa.inspect(engine).get_table_names()) == tables
        assert schema_state(engine).revision == "0099"
    finally:
        engine.dispose()
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "cairn.yaml").write_text("project: p\nbusiness: {problem: regression, target: y}\n"
                                       "data: {source: data.csv}\n")
    result = CliRunner().invoke(app, ["db", "upgrade", "-p", str(folder / "cairn.yaml")],
                                env={"CAIRN_STORE": empty_url})
    assert result.exit_code == 2 and "newer cairn" in result.stderr and "Traceback" not in result.output


# Several processes at once -------------------------------------------------------------------------------------
OPEN_AT = """
import sys, time
from pathlib import Path
from cairn.store import Store
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
Store.open(sys.argv[1], Path(sys.argv[2])).close()
"""


def _open_at_once(url: str, artifacts: Path, processes: int) -> None:
    start = time.time() + 2.0  # every process imported cairn and waits for the same moment
    running = [subprocess.Popen([sys.executable, "-c", OPEN_AT, url, str(artifacts), str(start)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(processes)]
    for process in running:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err


def test_processes_opening_a_release_store_at_once_upgrade_it_once(release_project):
    folder, original = release_project
    database = folder / ".cairn" / "cairn.db"
    _open_at_once(f"sqlite:///{database}", folder / ".cairn" / "artifacts", processes=2)
    assert len(list((folder / ".cairn").glob("cairn.db.bak-*"))) == 1  # one upgraded it, the others waited
    _same(_everything(Project.load(folder / "cairn.yaml")), original)


def test_processes_opening_an_empty_postgresql_store_at_once_make_it_once(tmp_path):
    with fresh_postgres_database("cairn_race") as url:
        _open_at_once(url, tmp_path / "artifacts", processes=2)
        engine = open_engine(url)
        try:
            assert schema_state(engine).up_to_date
            with engine.connect() as connection:
                assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
            assert _differences(engine, Base.metadata) == []
        finally:
            engine.dispose()

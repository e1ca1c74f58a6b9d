"""Exactly one production version per model, whatever runs at the same moment: real processes race on the real
SQLite file and PostgreSQL server (issue 17, item 2: two promotes at once left two production versions in 23 of
30 rounds). A loser waits for the winner and then succeeds. Both actions of every round are in the audit log
(issue 13), each once."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.errors import StoreError
from cairn.model.bundle import DESCRIPTION
from cairn.registry import ModelVersion, Registry
from cairn.store import Store, repository
from cairn.store.tables import ONE_PRODUCTION_INDEX, ModelRow, ModelVersionRow
from tests.store.race_worker import dummy_model, race

ROUNDS = 50
SPAWN = multiprocessing.get_context("spawn")
Plan = list[tuple[str, str, int]]


def production_versions(store: Store, name: str) -> list[int]:
    with store.session() as session:
        return sorted(session.scalars(
            sa.select(ModelVersionRow.version).join(ModelRow)
            .where(ModelRow.name == name, ModelVersionRow.stage == "production")
        ))


def run_race(store: Store, artifacts: Path, plans: tuple[Plan, Plan], *, before: Callable[[int], None],
             after: Callable[[int, list[tuple[str, Any]]], None]) -> None:
    """Two worker processes, each with its own store; per round the test calls `before`, releases both at once,
    waits for their two reports and calls `after` with them, in the plans' order."""
    run_id = store.start_run(project="race", config_hash="c" * 64, manifest={})
    barrier = SPAWN.Barrier(3)
    results = SPAWN.Queue()
    url = store.engine.url.render_as_string(hide_password=False)
    workers = [SPAWN.Process(target=race, args=(url, str(artifacts), run_id, number, plan, barrier, results),
                             daemon=True)
               for number, plan in enumerate(plans)]
    for worker in workers:
        worker.start()
    try:
        for index in range(len(plans[0])):
            before(index)
            barrier.wait(timeout=120)
            pair: list[tuple[str, Any]] = [("missing", None), ("missing", None)]
            for _ in plans:
                got, number, outcome, detail = results.get(timeout=120)
                assert got == index
                pair[number] = (outcome, detail)
            after(index, pair)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert [worker.exitcode for worker in workers] == [0, 0]


def registered(store: Store, name: str, stages: tuple[bool, ...]) -> Registry:
    registry = Registry(store)
    run_id = store.start_run(project=name, config_hash="c" * 64, manifest={})
    for production in stages:
        registry.register(dummy_model(name), run_id=run_id, production=production, note=None)
    return registry


def audited(store: Store, name: str, after_id: int) -> list[tuple[str, int | None]]:
    """The audit log's (action, version) lines for `name` written after line `after_id`, oldest first."""
    return sorted(((e.action, e.version) for e in Registry(store).audit(name) if e.id > after_id),
                  key=lambda line: (line[0], line[1] or 0))


def last_audit_id(store: Store, name: str) -> int:
    return max((e.id for e in Registry(store).audit(name, limit=1)), default=0)


def promote_race(store: Store, artifacts: Path, rounds: int) -> None:
    """v1 is production before each round; one process promotes v2 and the other v3 at the same moment."""
    name = f"m-{uuid.uuid4().hex[:6]}"
    registry = registered(store, name, (True, True, False))
    doubled: list[str] = []
    failed: list[str] = []
    unaudited: list[str] = []
    mark = [0]

    def before(_index: int) -> None:
        registry.promote(name, 1)
        mark[0] = last_audit_id(store, name)

    def after(index: int, pair: list[tuple[str, Any]]) -> None:
        versions = production_versions(store, name)
        if len(versions) != 1 or versions[0] not in (2, 3):
            doubled.append(f"round {index}: production {versions}")
        failed.extend(f"round {index}: {detail}" for outcome, detail in pair if outcome != "ok")
        if (lines := audited(store, name, mark[0])) != [("promote", 2), ("promote", 3)]:
            unaudited.append(f"round {index}: audit {lines}")

    started = time.perf_counter()
    run_race(store, artifacts, ([("promote", name, 2)] * rounds, [("promote", name, 3)] * rounds),
             before=before, after=after)
    print(f"\n{store.engine.dialect.name}: {rounds} rounds of two promotes in {time.perf_counter() - started:.1f} s;"
          f" not exactly one production in {len(doubled)}; failed promotes {len(failed)}")
    assert not doubled, f"not exactly one production version in {len(doubled)} of {rounds} rounds: {doubled[:3]}"
    assert not failed, f"{len(failed)} promotes failed: {failed[:3]}"
    assert not unaudited, f"the audit log missed actions in {len(unaudited)} rounds: {unaudited[:3]}"


def test_two_processes_promoting_at_once_leave_one_production_version(store, tmp_path):
    promote_race(store, tmp_path / "artifacts", ROUNDS)


@pytest.mark.bench
def test_promote_race_long(store, tmp_path):
    promote_race(store, tmp_path / "artifacts", 500)


def test_registering_and_rolling_back_at_once_leave_one_production_version(store, tmp_path):
    """Two production registrations of a new model (its first row made by both at once), then a rollback racing
    a rollback and a promote: one production version after each round, every action done, versions numbered
    without gaps or clashes."""
    rounds = 10
    names = [f"r-{uuid.uuid4().hex[:6]}" for _ in range(rounds)]
    problems: list[str] = []

    def described_version(version: ModelVersion) -> int:
        """The version written inside the bundle's model.json (re-serialised if the number changed under the lock)."""
        manifest = json.loads(store.artifacts.read(version.artifact_sha256))
        return int(json.loads(store.artifacts.read(manifest["files"][DESCRIPTION]))["version"])

    def after_register(index: int, pair: list[tuple[str, Any]]) -> None:
        listed = Registry(store).versions(names[index])
        versions = sorted(v.version for v in listed)
        if any(described_version(v) != v.version for v in listed):
            problems.append(f"register round {index}: bundles name versions "
                            f"{[described_version(v) for v in listed]} for {[v.version for v in listed]}")
        production = production_versions(store, names[index])
        if sorted(pair) != [("ok", 1), ("ok", 2)] or versions != [1, 2] or len(production) != 1:
            problems.append(f"register round {index}: {pair}, versions {versions}, production {production}")
        if (lines := audited(store, names[index], 0)) != [("register", 1), ("register", 2)]:
            problems.append(f"register round {index}: audit {lines}")

    run_race(store, tmp_path / "artifacts",
             ([("register", n, 0) for n in names], [("register", n, 0) for n in names]),
             before=lambda _index: None, after=after_register)

    name = f"b-{uuid.uuid4().hex[:6]}"
    registry = registered(store, name, (True, True, True))  # v1, v2 archived, v3 production

    mark = [0]

    def before_rollback(_index: int) -> None:
        for version in (1, 2, 3):
            registry.promote(name, version)
        mark[0] = last_audit_id(store, name)

    def after_rollback(index: int, pair: list[tuple[str, Any]]) -> None:
        """Two rollbacks go back two champions (v3 -> v2 -> v1). A rollback and a promote of v1, in either order:
        the rollback first goes to v2 and the promote then to v1; the promote first (v3 -> v1) is what the
        rollback then undoes, back to v3."""
        production = production_versions(store, name)
        if index % 2 == 0:
            ok = sorted(pair) == [("ok", 1), ("ok", 2)] and production == [1]
        else:
            rolled, promoted = pair
            ok = promoted == ("ok", 1) and (rolled == ("ok", 2) and production == [1]
                                            or rolled == ("ok", 3) and production == [3])
        if not ok:
            problems.append(f"rollback round {index}: {pair}, production {production}")
        done = sorted((action, detail) for (action, _n, _v), (outcome, detail)
                      in zip(plans[index], pair, strict=True) if outcome == "ok")
        if (lines := audited(store, name, mark[0])) != done:
            problems.append(f"rollback round {index}: audit {lines}, actions done {done}")

    first: Plan = [("rollback", name, 0)] * rounds
    second: Plan = [("rollback", name, 0), ("promote", name, 1)] * (rounds // 2)
    plans = list(zip(first, second, strict=True))
    run_race(store, tmp_path / "artifacts", (first, second), before=before_rollback, after=after_rollback)
    shown = [p for kind in ("register", "rollback") for p in [p for p in problems if p.startswith(kind)][:2]]
    assert not problems, f"{len(problems)} bad rounds, among them: {shown}"


def has_one_production_index(store: Store) -> bool:
    with store.engine.connect() as connection:
        return sa.inspect(connection).has_index("cairn_model_versions", ONE_PRODUCTION_INDEX)


def test_the_database_itself_refuses_a_second_production_version(store):
    name = f"i-{uuid.uuid4().hex[:6]}"
    registered(store, name, (True, False))
    assert has_one_production_index(store)
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(sa.update(ModelVersionRow).where(ModelVersionRow.version == 2,
                                                            ModelVersionRow.model_id == ModelRow.id,
                                                            ModelRow.name == name).values(stage="production"))
    assert production_versions(store, name) == [1]


def test_a_store_made_before_the_index_gets_it_unless_it_holds_two_production_versions(store, store_url, tmp_path,
                                                                                       caplog):
    """A store from the previous cairn (no index; maybe two production versions, left by the race) opens and
    works: the index is added when the data allows it, else a warning, and a promote repairs the data."""
    name = f"o-{uuid.uuid4().hex[:6]}"
    registered(store, name, (True, True, False))  # v1 archived, v2 production, v3 candidate
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP INDEX {ONE_PRODUCTION_INDEX}")
        connection.execute(sa.update(ModelVersionRow).where(ModelVersionRow.version == 3,
                                                            ModelVersionRow.model_id == ModelRow.id,
                                                            ModelRow.name == name).values(stage="production"))
    assert production_versions(store, name) == [2, 3] and not has_one_production_index(store)

    with caplog.at_level(logging.WARNING, logger="cairn.store.repository"):
        reopened = Store.open(store_url, tmp_path / "artifacts")
    assert "more than one production version" in caplog.text and not has_one_production_index(reopened)
    registry = Registry(reopened)
    assert registry.production(name).version == 3
    assert registry.rollback(name).version == 1  # both production versions archived, v1 (archived) restored
    assert production_versions(reopened, name) == [1]
    assert registry.promote(name, 3).version == 3 and production_versions(reopened, name) == [3]
    reopened.close()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cairn.store.repository"):
        repaired = Store.open(store_url, tmp_path / "artifacts")
    assert has_one_production_index(repaired) and not caplog.text
    assert Registry(repaired).production(name).version == 3
    repaired.close()


def test_a_promote_that_waits_too_long_for_the_lock_fails_clearly_and_changes_nothing(store, store_url, tmp_path,
                                                                                      monkeypatch):
    name = f"w-{uuid.uuid4().hex[:6]}"
    registered(store, name, (True, False))
    monkeypatch.setattr(repository, "LOCK_WAIT_S", 1)
    impatient = Store.open(store_url, tmp_path / "artifacts")
    try:
        with store.write_session() as holder:  # another process's promote, in the middle of its transaction
            holder.scalar(sa.select(ModelRow.id).where(ModelRow.name == name).with_for_update())
            started = time.perf_counter()
            with pytest.raises(StoreError, match="busy") as caught:
                Registry(impatient).promote(name, 2)
            assert 0.8 < time.perf_counter() - started < 5
        assert "retry" in str(caught.value)
        assert production_versions(store, name) == [1]
        assert Registry(impatient).promote(name, 2).version == 2  # once the lock is free it goes through
    finally:
        impatient.close()

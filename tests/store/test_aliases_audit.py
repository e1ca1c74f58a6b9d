"""Aliases on model versions (champion, challenger, a user's names) and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from cairn.errors import ConfigError, NotFoundError
from cairn.registry import Registry, os_user, version_number
from cairn.store import Store
from tests.store.race_worker import dummy_model


def registered(store: Store, stages: tuple[bool, ...]) -> tuple[Registry, str, int]:
    name = f"a-{uuid.uuid4().hex[:6]}"
    registry = Registry(store)
    run_id = store.start_run(project=name, config_hash="c" * 64, manifest={})
    for production in stages:
        registry.register(dummy_model(name), run_id=run_id, production=production, note=None)
    return registry, name, run_id


def aliases(registry: Registry, name: str) -> dict[int, tuple[str, ...]]:
    return {v.version: v.aliases for v in registry.versions(name)}


def test_version_references_read_as_numbers():
    assert [version_number(r) for r in ("2", "v2", "V12", " 3 ", "champion", "v", "-1", "2.0")] == [
        2, 2, 12, 3, None, None, None, None]


def test_champion_is_the_production_version_and_aliases_move(store):
    registry, name, _ = registered(store, (True, False, False))
    assert aliases(registry, name) == {3: (), 2: (), 1: ("champion",)}
    assert registry.resolve(name, "production") == registry.resolve(name, "champion") == 1

    registry.set_alias(name, 2, "challenger")
    registry.set_alias(name, 3, "Shadow")
    assert aliases(registry, name) == {3: ("shadow",), 2: ("challenger",), 1: ("champion",)}
    assert registry.resolve(name, "challenger") == 2 and registry.resolve(name, "v3") == 3

    registry.set_alias(name, 3, "challenger")  # an alias names one version: it moves
    assert aliases(registry, name) == {3: ("challenger", "shadow"), 2: (), 1: ("champion",)}

    promoted = registry.promote(name, registry.resolve(name, "challenger"))
    assert promoted.aliases == ("champion", "shadow")  # a champion is no longer a challenger; user names stay
    assert aliases(registry, name) == {3: ("champion", "shadow"), 2: (), 1: ()}
    assert registry.set_alias(name, 2, "production").stage == "production"  # the old word still promotes
    assert registry.production(name).version == 2
    assert registry.rollback(name).version == 3  # back to the champion v2 replaced, whatever the numbers
    assert registry.rollback(name).version == 1  # and once more: the champion before v3
    assert [v.version for v in registry.versions(name) if v.stage == "production"] == [1]


def test_unknown_versions_and_bad_alias_names_are_user_errors(store):
    registry, name, _ = registered(store, (True,))
    with pytest.raises(NotFoundError, match="has no version 7"):
        registry.resolve(name, "v7")
    with pytest.raises(NotFoundError, match="no version called 'nightly'") as caught:
        registry.resolve(name, "nightly")
    assert "champion" in str(caught.value)
    for bad in ("v2", "2", "Has Space", "x" * 41, ""):
        with pytest.raises(ConfigError, match="short lowercase name"):
            registry.set_alias(name, 1, bad)
    with pytest.raises(NotFoundError, match="no earlier production version"):
        registry.rollback(name)


def test_every_registry_action_is_in_the_audit_log_with_who_why_and_figures(store):
    registry, name, run_id = registered(store, (True, False))
    registry.set_alias(name, 2, "challenger", reason="shipped, not better", figures={"difference": 0.001})
    registry.promote(name, 2, reason="reviewed by hand")
    registry.rollback(name)
    log = registry.audit(name)
    assert [(e.action, e.version) for e in log] == [
        ("rollback", 1), ("promote", 2), ("alias", 2), ("register", 2), ("register", 1)]
    assert {e.actor for e in log} == {os_user()} and all(e.at.tzinfo is not None for e in log)
    rollback, promote, alias, second, first = log
    assert rollback.figures == {"from_version": 2}
    assert promote.reason == "reviewed by hand" and promote.figures == {"from_version": 1}
    assert alias.figures == {"alias": "challenger", "from_version": None, "difference": 0.001}
    assert alias.reason == "shipped, not better"
    assert first.run_id == second.run_id == run_id and first.figures["stage"] == "production"
    assert second.figures["stage"] == "candidate"
    assert registry.audit(name, limit=2) == log[:2] and registry.audit("someone-else") == []
    assert log[0].to_dict()["action"] == "rollback"


def test_a_failed_action_leaves_no_audit_line(store):
    registry, name, _ = registered(store, (True,))
    before = len(registry.audit(name))
    with pytest.raises(NotFoundError):
        registry.rollback(name)
    with pytest.raises(NotFoundError):
        registry.promote(name, 5)
    assert len(registry.audit(name)) == before


def test_a_store_made_before_aliases_and_audit_gets_them_when_opened(store, store_url, tmp_path):
    """The previous cairn's store: no alias or audit table. Opening it adds them; its production version is the
    champion, and actions on it are logged from then on."""
    registry, name, _ = registered(store, (True, True))
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE cairn_model_aliases")
        connection.exec_driver_sql("DROP TABLE cairn_audit")
        connection.exec_driver_sql("DROP TABLE alembic_version")  # made before migrations too
        connection.exec_driver_sql("ALTER TABLE cairn_runs DROP COLUMN artifacts_collected_at")
    reopened = Store.open(store_url, tmp_path / "artifacts")
    try:
        again = Registry(reopened)
        assert aliases(again, name) == {2: ("champion",), 1: ()}
        assert again.audit(name) == []
        again.set_alias(name, 1, "challenger")
        assert [e.action for e in again.audit(name)] == ["alias"]
    finally:
        reopened.close()

"""The store on SQLite and on the real PostgreSQL at 127.0.0.1:5432: runs, cache, artifacts, registry."""

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from cairn.errors import NotFoundError, StoreError
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.project.api import Project
from cairn.registry import Registry
from cairn.store import Store
from cairn.store.repository import now
from cairn.store.tables import ArtifactRow, RunRow, StageRow
from tests.examples import QUICK, copy_example


def test_sqlite_uses_write_ahead_log(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'cairn.db'}", tmp_path / "artifacts")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_stage_outputs_are_content_addressed_and_cached(store):
    project = f"p-{uuid.uuid4().hex[:6]}"
    run_id = store.start_run(project=project, config_hash="c" * 64, manifest={"seed": 1})
    shas = store.record_stage(run_id, stage="data", position=1, cache_key="k" * 64, cached=False,
                              started_at=now(), duration_s=0.5, outputs={"numbers": [1, 2, 3]}, notes=["n"])
    path = store.artifacts.path_of(shas["numbers"])
    assert path.exists() and path.name == shas["numbers"]
    assert store.cached_outputs("k" * 64) == (shas, ["n"])
    assert store.load_artifact(shas["numbers"]) == [1, 2, 3]
    assert store.cached_outputs("x" * 64) is None
    path.unlink()  # an artifact lost from disk is a cache miss, not a crash
    assert store.cached_outputs("k" * 64) is None
    store.finish_run(run_id, status="succeeded", manifest={"seed": 1}, verdict=None, data_fingerprint="f")
    record = store.run(project, run_id)
    assert record.status == "succeeded" and record.stages[0].stage == "data"
    with pytest.raises(NotFoundError):
        store.run(project, 10_000)


def test_registry_promote_and_rollback(store, tmp_path):
    registry = Registry(store)
    name = f"m-{uuid.uuid4().hex[:6]}"
    run_id = store.start_run(project=name, config_hash="c" * 64, manifest={})

    def model():
        from sklearn.dummy import DummyRegressor

        return TrainedModel(name=name, version=0, problem="regression", target="y",
                            features=[FeatureSpec("x", "number")], pipeline=DummyRegressor().fit([[0.0]], [1.0]))

    assert registry.register(model(), run_id=run_id, production=True, note=None).version == 1
    second = registry.register(model(), run_id=run_id, production=True, note=None)
    third = registry.register(model(), run_id=run_id, production=False, note="not promoted: missed")
    assert (second.version, third.stage) == (2, "candidate")
    assert [v.stage for v in registry.versions(name)] == ["candidate", "production", "archived"]
    assert registry.rollback(name).version == 1
    assert registry.production(name).version == 1
    promoted = registry.promote(name, 3)  # by hand: the note says so, and keeps the run's verdict
    assert (promoted.stage, promoted.note) == ("production", "promoted by hand; its run's verdict: missed")
    assert registry.get(name, 3).note == "promoted by hand; its run's verdict: missed"
    assert registry.load(name, 3).version == 3
    with pytest.raises(NotFoundError, match="no version 9"):
        registry.get(name, 9)


def test_unreachable_store_names_host_and_hides_password(tmp_path):
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://cairn:s3cret@127.0.0.1:1/db", tmp_path)
    text = str(caught.value)
    assert "127.0.0.1:1" in text and "s3cret" not in text


def test_a_run_that_dies_leaves_a_consistent_store(tmp_path):
    """LightGBM rejects the pinned parameter inside training: the run is failed, earlier stages are intact."""
    folder = copy_example(tmp_path / "hp", **QUICK)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["models"] = {"candidates": ["lightgbm"], "params": {"lightgbm": {"num_leaves": -3}}}
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config))
    project = Project.load(folder / "cairn.yaml")
    with pytest.raises(Exception, match="num_leaves"):
        project.run()
    store = project.open_store()
    with store.session() as session:
        run = session.scalars(sa.select(RunRow)).one()
        stages = [row.stage for row in session.scalars(sa.select(StageRow).order_by(StageRow.position))]
        artifacts = session.scalars(sa.select(ArtifactRow)).all()
        assert run.status == "failed" and "num_leaves" in run.error
        assert stages == ["business", "data", "preprocessing", "exploration", "features", "models"]
        assert all(store.artifacts.path_of(a.sha256).exists() for a in artifacts)
    assert not list(Path(store.artifacts.root).rglob(".partial-*"))
    store.close()


def test_example_runs_with_a_postgresql_store(postgres_url, tmp_path):
    folder = copy_example(tmp_path / "hp", store=None, **QUICK)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["store"] = postgres_url
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config))
    project = Project.load(folder / "cairn.yaml")
    first, second = project.run(), project.run()
    assert first.shipped is not None and all(s.cached for s in second.stages)
    assert second.metrics == first.metrics
    assert [r.id for r in project.runs()][:2] == [second.id, first.id]
    assert project.models()[0].version == 1
    assert not (folder / ".cairn" / "cairn.db").exists()


def test_a_run_whose_process_died_reads_as_failed(store):
    """Every read of runs checks the owners of 'running' rows on this host: a dead process's run is failed, with
    the process and host named; a live one's, or another host's (which cannot be checked), stays running."""
    import os
    import socket
    import subprocess

    project, host = f"p-{uuid.uuid4().hex[:6]}", socket.gethostname()
    ended = subprocess.Popen(["true"])
    ended.wait()
    with store.session() as session:
        rows = [RunRow(project=project, status="running", started_at=now(), config_hash="c" * 64, manifest={},
                       pid=pid, host=owner) for pid, owner in ((ended.pid, host), (os.getppid(), host),
                                                               (ended.pid, "elsewhere"))]
        session.add_all(rows)
        session.flush()
        dead, live, remote = (row.id for row in rows)
    record = store.run(project, dead)
    assert (record.status, record.error) == ("failed", f"abandoned: its process {ended.pid} on {host} ended")
    assert record.finished_at is not None
    assert {r.id: r.status for r in store.runs(project)} == {dead: "failed", live: "running", remote: "running"}


def test_old_partial_writes_are_removed_when_the_store_opens(tmp_path):
    import os
    import time

    from cairn.store.artifacts import STALE_PARTIAL_S

    store = Store.open(f"sqlite:///{tmp_path / 'cairn.db'}", tmp_path / "artifacts")
    sha = store.store_artifact([1, 2, 3])
    store.close()
    folder = tmp_path / "artifacts" / sha[:2]
    old, fresh = folder / ".partial-old", folder / ".partial-fresh"
    old.write_bytes(b"half"), fresh.write_bytes(b"half")
    past = time.time() - STALE_PARTIAL_S - 1
    os.utime(old, (past, past))
    store = Store.open(f"sqlite:///{tmp_path / 'cairn.db'}", tmp_path / "artifacts")
    assert not old.exists() and fresh.exists()  # a fresh one may be a write in progress
    assert store.load_artifact(sha) == [1, 2, 3]
    store.close()


def test_a_run_commits_its_version_with_its_finish_or_not_at_all(store):
    """The run's finish and its version's promotion are one transaction: when the finish fails, the version stays
    a candidate; when it succeeds, the version is in production, owned by the committing run, its note gone."""
    from sklearn.dummy import DummyRegressor

    registry = Registry(store)
    name = f"m-{uuid.uuid4().hex[:6]}"
    killed = store.start_run(project=name, config_hash="c" * 64, manifest={})
    model = TrainedModel(name=name, version=0, problem="regression", target="y",
                         features=[FeatureSpec("x", "number")], pipeline=DummyRegressor().fit([[0.0]], [1.0]))
    registry.register(model, run_id=killed, production=False, note=f"pending: production once run {killed} finishes")
    committing = store.start_run(project=name, config_hash="c" * 64, manifest={})

    def finish(session, fail=False):
        store.finish_run(committing, status="succeeded", manifest={}, verdict=None, data_fingerprint=None,
                         session=session)
        if fail:
            raise RuntimeError("killed mid-commit")

    with pytest.raises(RuntimeError):
        registry.promote(name, 1, run_id=committing, alongside=lambda session: finish(session, fail=True))
    assert [(v.stage, v.run_id) for v in registry.versions(name)] == [("candidate", killed)]
    assert store.run(name, committing).status == "running"
    promoted = registry.promote(name, 1, run_id=committing, alongside=finish)
    assert (promoted.stage, promoted.run_id, promoted.note) == ("production", committing, None)
    assert store.run(name, committing).status == "succeeded"


def test_windows_stored_before_a_change_of_alignment_give_way_to_the_new_ones(store):
    """Weekly windows started on Thursdays before they started on Mondays: the old rows overlapping the new
    windows are deleted, not shown beside them; a window the new ones do not cover stays (history kept)."""
    from datetime import UTC, datetime, timedelta

    def rows(*starts: str, days: int = 7) -> list[dict]:
        out = []
        for start in starts:
            begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
            out.append({"project": "p", "model": "m", "version": 1, "window_start": begin,
                        "window_end": begin + timedelta(days=days), "metric": "mape", "kind": "realised",
                        "value": 0.1, "low": 0.05, "high": 0.15, "threshold": 0.2, "met": True, "rows": 50,
                        "computed_at": datetime.now(UTC)})
        return out

    store.save_performance(rows("2008-11-27", "2009-01-01", "2009-01-08"))  # Thursdays
    store.save_performance(rows("2009-01-05", "2009-01-12"))  # Mondays
    kept = [row["window_start"].date().isoformat() for row in store.performance("p", "m", 1)]
    assert kept == ["2008-11-27", "2009-01-05", "2009-01-12"]
    store.save_performance(rows("2009-01-05", "2009-01-12"))  # the same windows again: upserted, no change
    assert len(store.performance("p", "m", 1)) == 3

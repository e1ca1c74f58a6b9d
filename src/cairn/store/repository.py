"""Queries over the store. Every write is one transaction, so a crash leaves no half-recorded stage or run."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, inspect, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import CreateIndex

from cairn.errors import NotFoundError, StoreError
from cairn.store.artifacts import ArtifactFolder, Artifacts, decode, encode
from cairn.store.migrate import SchemaState, Upgrade, schema_state, upgrade_schema
from cairn.store.remote_artifacts import open_artifacts
from cairn.store.tables import (
    ONE_PRODUCTION_INDEX,
    ArtifactRow,
    Base,
    DriftHistoryRow,
    FeedbackRow,
    MetricRow,
    ModelVersionRow,
    MonitoringArtifactRow,
    PerformanceRow,
    RunRow,
    StageRow,
)
from cairn.urls import engine_url, redacted

log = logging.getLogger(__name__)

# How long a write session waits for another process's lock before it gives up with a StoreError. SQLite's
# busy_timeout (set on every connection below) and PostgreSQL's lock_timeout (set in each write session) agree.
LOCK_WAIT_S = 10


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StageRecord:
    stage: str
    cache_key: str
    status: str
    cached: bool
    duration_s: float
    outputs: dict[str, Any]
    notes: list[str]


@dataclass(frozen=True)
class RunRecord:
    id: int
    project: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    config_hash: str
    data_fingerprint: str | None
    manifest: dict[str, Any]
    verdict: dict[str, Any] | None
    error: str | None
    stages: list[StageRecord] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts_collected_at: datetime | None = None  # when `cairn gc` deleted its artifacts

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "project": self.project, "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "config_hash": self.config_hash, "data_fingerprint": self.data_fingerprint,
            "verdict": self.verdict, "error": self.error, "metrics": self.metrics, "manifest": self.manifest,
            "artifacts_collected_at": self.artifacts_collected_at.isoformat() if self.artifacts_collected_at
            else None,
            "stages": [
                {"stage": s.stage, "status": s.status, "cached": s.cached, "duration_s": round(s.duration_s, 3),
                 "cache_key": s.cache_key, "outputs": s.outputs, "notes": s.notes}
                for s in self.stages
            ],
        }



class Store:
    """The run history, stage cache and model registry, over any SQLAlchemy database."""

    def __init__(self, engine: Engine, artifacts: Artifacts) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, artifacts_root: Path | str) -> Store:
        """The store at `url`, its schema brought to this cairn's version first (cairn.store.migrate), and its
        artifacts in a folder or on an fsspec URL (`s3://bucket/prefix`)."""
        engine = open_engine(url)
        with unreachable_as_store_error(url):
            upgrade_schema(engine, where=f"store {redacted(url)}")  # cairn.store.migrate: a no-op once up to date
        _ensure_one_production_index(engine)
        artifacts = open_artifacts(artifacts_root)
        if isinstance(artifacts, ArtifactFolder):  # remote: listing a bucket on every open is too dear (cairn gc)
            artifacts.remove_stale_partials()
        return cls(engine, artifacts)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction for read-then-write changes that must not interleave with another process's (the
        registry's stages). On SQLite it opens with BEGIN IMMEDIATE: the database's one write lock is taken before
        the first read, so another write session waits (busy_timeout) and then reads what this one committed.
        pysqlite would otherwise begin only at the first INSERT/UPDATE, after the reads; it issues no BEGIN of its
        own inside a transaction and still commits and rolls back, so the explicit BEGIN is all the SQLAlchemy
        recipe for SQLite transactions needs here, and every other session keeps pysqlite's behaviour. On
        PostgreSQL the caller locks the rows it depends on (SELECT ... FOR UPDATE); a lock not granted within
        LOCK_WAIT_S, or a write that collides with a constraint, is a StoreError and nothing is changed."""
        with self._sessions.begin() as session:
            try:
                connection = session.connection()
                if self.engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                elif self.engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_S}s'")
                yield session
                session.flush()
            except OperationalError as error:
                if not _is_lock_wait(error):
                    raise
                raise StoreError.single(
                    "The store is busy: another cairn process held its write lock too long.", where="store",
                    expected=f"the lock within {LOCK_WAIT_S} s", got=_first_line(error),
                    fix="retry; if it persists, look for a cairn process stuck in a promote or a run",
                ) from None
            except IntegrityError as error:
                raise StoreError.single(
                    "Another process changed the model registry at the same moment; nothing was changed.",
                    where="model registry", expected="one change at a time", got=_first_line(error),
                    fix="retry the command",
                ) from None

    def close(self) -> None:
        self.engine.dispose()

    # runs ---------------------------------------------------------------------------------------------------
    def start_run(self, *, project: str, config_hash: str, manifest: dict[str, Any]) -> int:
        self._fail_abandoned_runs(project)
        with self.session() as session:
            row = RunRow(project=project, status="running", started_at=now(), config_hash=config_hash,
                         manifest=manifest, pid=os.getpid(), host=socket.gethostname())
            session.add(row)
            session.flush()
            return row.id

    def finish_run(self, run_id: int, *, status: str, manifest: dict[str, Any], verdict: dict[str, Any] | None,
                   data_fingerprint: str | None, error: str | None = None, session: Session | None = None) -> None:
        """Mark the run finished, in its own transaction or in `session` (the registry's promote at the end of a
        run, so that the run succeeds and its version goes to production together or not at all)."""
        change = update(RunRow).where(RunRow.id == run_id).values(
            status=status, finished_at=now(), manifest=manifest, verdict=verdict,
            data_fingerprint=data_fingerprint, error=error,
        )
        if session is not None:
            session.execute(change)
            return
        with self.session() as own:
            own.execute(change)

    def _fail_abandoned_runs(self, project: str) -> None:
        """A run left 'running' by a process of this host that no longer exists died (kill -9, power loss): mark
        it failed instead of showing it live. Called before every read of runs and before a new run starts. A run
        owned by another host is left as it is: its process cannot be checked from here."""
        host = socket.gethostname()
        with self.session() as session:
            for row in session.scalars(select(RunRow).where(RunRow.status == "running", RunRow.host == host,
                                                            RunRow.project == project)):
                if row.pid is not None and row.pid != os.getpid() and not _process_alive(row.pid):
                    row.status, row.finished_at = "failed", now()
                    row.error = f"abandoned: its process {row.pid} on {host} ended"

    def record_stage(self, run_id: int, *, stage: str, position: int, cache_key: str, cached: bool,
                     started_at: datetime, duration_s: float, outputs: dict[str, Any],
                     notes: list[str]) -> dict[str, str]:
        """Write each output as an artifact, then the stage row, in one transaction. Returns name -> sha256."""
        shas: dict[str, str] = {}
        kinds: dict[str, tuple[str, int]] = {}
        for name, value in outputs.items():
            data, kind = encode(value)
            shas[name] = self.artifacts.write(data)
            kinds[shas[name]] = (kind, len(data))
        self._record_stage_row(run_id, stage=stage, position=position, cache_key=cache_key, cached=cached,
                               started_at=started_at, duration_s=duration_s, shas=shas, kinds=kinds, notes=notes)
        return shas

    def record_cached_stage(self, run_id: int, *, stage: str, position: int, cache_key: str,
                            shas: dict[str, str], notes: list[str]) -> None:
        self._record_stage_row(run_id, stage=stage, position=position, cache_key=cache_key, cached=True,
                               started_at=now(), duration_s=0.0, shas=shas, kinds={}, notes=notes)

    def _record_stage_row(self, run_id: int, *, stage: str, position: int, cache_key: str, cached: bool,
                          started_at: datetime, duration_s: float, shas: dict[str, str],
                          kinds: dict[str, tuple[str, int]], notes: list[str]) -> None:
        with self.session() as session:
            for sha, (kind, size) in kinds.items():
                if session.get(ArtifactRow, sha) is None:
                    session.add(ArtifactRow(sha256=sha, kind=kind, size_bytes=size, created_at=now()))
            session.add(StageRow(run_id=run_id, stage=stage, position=position, cache_key=cache_key,
                                 status="succeeded", cached=cached, started_at=started_at, duration_s=duration_s,
                                 outputs=shas, notes=notes))

    def cached_outputs(self, cache_key: str) -> tuple[dict[str, str], list[str]] | None:
        """Output artifacts of an earlier successful execution with this key, if all are still on disk."""
        with self.session() as session:
            row = session.scalars(
                select(StageRow).where(StageRow.cache_key == cache_key, StageRow.status == "succeeded")
                .order_by(StageRow.id.desc()).limit(1)
            ).first()
            if row is None or not all(self.artifacts.exists(sha) for sha in row.outputs.values()):
                return None
            return dict(row.outputs), list(row.notes)

    def store_artifact(self, value: Any) -> str:
        data, kind = encode(value)
        sha = self.artifacts.write(data)
        with self.session() as session:
            if session.get(ArtifactRow, sha) is None:
                session.add(ArtifactRow(sha256=sha, kind=kind, size_bytes=len(data), created_at=now()))
        return sha

    def load_artifact(self, sha256: str) -> Any:
        with self.session() as session:
            row = session.get(ArtifactRow, sha256)
            if row is None:
                raise NotFoundError.single("No such artifact.", where="artifact", expected="a stored artifact",
                                           got=sha256[:12], fix="rerun the stage that makes it")
            kind = row.kind
        return decode(self.artifacts.read_checked(sha256), kind)

    def add_metrics(self, run_id: int, metrics: list[tuple[str, str, str, float]]) -> None:
        """(scope, model, name, value) rows: holdout and CV scores, latency."""
        with self.session() as session:
            session.add_all(MetricRow(run_id=run_id, scope=scope, model=model, name=name, value=float(value))
                            for scope, model, name, value in metrics)

    # monitoring: feedback, performance per window ------------------------------------------------------------
    def add_feedback(self, rows: list[dict[str, Any]]) -> int:
        """Insert feedback rows (the columns of FeedbackRow but id), in one transaction; returns how many."""
        if not rows:
            return 0
        with self.session() as session:
            session.add_all(FeedbackRow(**row) for row in rows)
        return len(rows)

    def labelled_ids(self, project: str, model: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` already have a true value stored for the model (the latest received is the one read)."""
        found: set[str] = set()
        with self.session() as session:
            for start in range(0, len(ids), 500):  # a bounded IN list on every database
                found.update(session.scalars(select(FeedbackRow.prediction_id).distinct().where(
                    FeedbackRow.project == project, FeedbackRow.model == model,
                    FeedbackRow.prediction_id.in_(ids[start:start + 500]))))
        return found

    def feedback(self, project: str, model: str, version: int | None = None) -> list[dict[str, Any]]:
        """The feedback of a model (of one version), oldest received first."""
        query = select(FeedbackRow).where(FeedbackRow.project == project, FeedbackRow.model == model)
        if version is not None:
            query = query.where(FeedbackRow.version == version)
        with self.session() as session:
            return [{"prediction_id": r.prediction_id, "version": r.version, "actual": r.actual,
                     "received_at": as_utc(r.received_at), "event_at": as_utc(r.event_at), "source": r.source,
                     "record": r.record, "prediction": r.prediction}
                    for r in session.scalars(query.order_by(FeedbackRow.id))]

    def save_performance(self, rows: list[dict[str, Any]]) -> None:
        """Upsert performance rows (the columns of PerformanceRow but id) on their window, metric and kind. A
        stored window that overlaps a new one but starts elsewhere (the windows changed length or alignment: weeks
        started on Thursdays before) is deleted, so the history holds one set of windows, not two overlapping."""
        keys = ("project", "model", "version", "window_start", "metric", "kind")
        with self.session() as session:
            for (project, model, version), spans in _windows_by_version(rows).items():
                stored = session.scalars(select(PerformanceRow).where(
                    PerformanceRow.project == project, PerformanceRow.model == model,
                    PerformanceRow.version == version)).all()
                starts = {start for start, _ in spans}
                for old in stored:
                    start, end = as_utc(old.window_start), as_utc(old.window_end)
                    if start not in starts and any(start < new_end and new_start < end for new_start, new_end in spans):
                        session.delete(old)
                session.flush()
            for row in rows:
                found = session.scalars(select(PerformanceRow).filter_by(**{k: row[k] for k in keys})).first()
                if found is None:
                    session.add(PerformanceRow(**row))
                else:
                    for name, value in row.items():
                        setattr(found, name, value)

    def performance(self, project: str, model: str, version: int) -> list[dict[str, Any]]:
        """The stored performance rows of a model version, oldest window first."""
        query = select(PerformanceRow).where(PerformanceRow.project == project, PerformanceRow.model == model,
                                             PerformanceRow.version == version)
        names = [c.name for c in PerformanceRow.__table__.columns if c.name != "id"]
        with self.session() as session:
            rows = session.scalars(query.order_by(PerformanceRow.window_start, PerformanceRow.metric)).all()
            return [{name: as_utc(getattr(r, name)) if name.endswith(("_start", "_end", "_at")) else getattr(r, name)
                     for name in names} for r in rows]

    def monitoring_artifact(self, project: str, model: str, version: int, kind: str) -> str | None:
        with self.session() as session:
            row = session.scalars(select(MonitoringArtifactRow).filter_by(
                project=project, model=model, version=version, kind=kind)).first()
            return None if row is None else row.sha256

    def save_monitoring_artifact(self, project: str, model: str, version: int, kind: str, value: Any) -> str:
        """Store `value` as an artifact and remember it for this version (a second writer's is kept instead)."""
        sha = self.store_artifact(value)
        try:
            with self.session() as session:
                session.add(MonitoringArtifactRow(project=project, model=model, version=version, kind=kind,
                                                  sha256=sha, created_at=now()))
        except IntegrityError:
            return self.monitoring_artifact(project, model, version, kind) or sha
        return sha

    def save_drift_check(self, rows: list[dict[str, Any]]) -> None:
        """Insert the rows of one drift check (the columns of DriftHistoryRow but id), in one transaction."""
        with self.session() as session:
            session.add_all(DriftHistoryRow(**row) for row in rows)

    def drift_history(self, project: str, model: str, version: int | None = None, *,
                      last_checks: int | None = None) -> list[dict[str, Any]]:
        """The drift rows of a model (of one version), oldest check first; with ``last_checks``, only the rows of
        that many newest checks."""
        where = [DriftHistoryRow.project == project, DriftHistoryRow.model == model]
        if version is not None:
            where.append(DriftHistoryRow.version == version)
        query = select(DriftHistoryRow).where(*where)
        names = [c.name for c in DriftHistoryRow.__table__.columns if c.name != "id"]
        with self.session() as session:
            if last_checks is not None:
                newest = (select(DriftHistoryRow.check_id).where(*where).group_by(DriftHistoryRow.check_id)
                          .order_by(func.max(DriftHistoryRow.checked_at).desc()).limit(last_checks))
                query = query.where(DriftHistoryRow.check_id.in_(newest.scalar_subquery()))
            rows = session.scalars(query.order_by(DriftHistoryRow.checked_at, DriftHistoryRow.id)).all()
            return [{name: as_utc(getattr(r, name)) if name.endswith("_at") else getattr(r, name) for name in names}
                    for r in rows]

    # reading ------------------------------------------------------------------------------------------------
    def runs(self, project: str, *, limit: int = 50) -> list[RunRecord]:
        self._fail_abandoned_runs(project)
        with self.session() as session:
            rows = session.scalars(select(RunRow).where(RunRow.project == project)
                                   .order_by(RunRow.id.desc()).limit(limit)).all()
            return [self._record(session, row, with_stages=False) for row in rows]

    def run(self, project: str, run_id: int | str) -> RunRecord:
        self._fail_abandoned_runs(project)
        with self.session() as session:
            query = select(RunRow).where(RunRow.project == project)
            if run_id == "latest":
                row = session.scalars(query.order_by(RunRow.id.desc()).limit(1)).first()
            elif str(run_id).isdigit():
                row = session.scalars(query.where(RunRow.id == int(run_id))).first()
            else:  # "abc", "-1", "1.5": no run has that id
                row = None
            if row is None:
                raise NotFoundError.single(
                    f"No run {run_id} in project {project}.", where="RUN", expected="a run id from `cairn runs`",
                    got=str(run_id), fix="list the runs with `cairn runs`",
                )
            return self._record(session, row, with_stages=True)

    def _record(self, session: Session, row: RunRow, *, with_stages: bool) -> RunRecord:
        stages = []
        if with_stages:
            stages = [StageRecord(s.stage, s.cache_key, s.status, s.cached, s.duration_s, dict(s.outputs),
                                  list(s.notes))
                      for s in session.scalars(select(StageRow).where(StageRow.run_id == row.id)
                                               .order_by(StageRow.position))]
        metrics = {
            m.name: m.value
            for m in session.scalars(select(MetricRow).where(MetricRow.run_id == row.id,
                                                             MetricRow.scope == "holdout"))
        }
        return RunRecord(row.id, row.project, row.status, as_utc(row.started_at), as_utc(row.finished_at),
                         row.config_hash, row.data_fingerprint, dict(row.manifest or {}), row.verdict, row.error,
                         stages, metrics, as_utc(row.artifacts_collected_at))


def store_schema(url: str) -> SchemaState:
    """Where the store at `url` stands against this cairn's schema (`cairn db current`); changes nothing."""
    engine = open_engine(url)
    try:
        with unreachable_as_store_error(url):
            return schema_state(engine)
    finally:
        engine.dispose()


def upgrade_store(url: str) -> Upgrade:
    """Bring the store at `url` to this cairn's schema (`cairn db upgrade`); see cairn.store.migrate."""
    engine = open_engine(url)
    try:
        with unreachable_as_store_error(url):
            done = upgrade_schema(engine, where=f"store {redacted(url)}")
        _ensure_one_production_index(engine)
        return done
    finally:
        engine.dispose()


def open_engine(url: str) -> Engine:
    """An engine for the store URL (nothing connects yet); a URL that cannot work is a StoreError."""
    try:
        engine = create_engine(engine_url(url), pool_pre_ping=True)
    except ArgumentError:
        raise StoreError.single(
            "The store URL cannot be parsed.", where="store", expected="a SQLAlchemy URL",
            got=redacted(url), fix="write e.g. postgresql://user@127.0.0.1:5432/cairn or leave it out",
        ) from None
    except ModuleNotFoundError as error:
        raise StoreError.single(
            "The store's database driver is not installed.", where="store",
            expected=f"the driver for {redacted(url)}", got=f"no module {error.name}",
            fix="pip install 'cairn[postgres]'",
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def unreachable_as_store_error(url: str) -> Iterator[None]:
    """A database that cannot be reached is the user's to fix: said with its address, never its password."""
    try:
        yield
    except OperationalError as error:
        target = make_url(engine_url(url))
        raise StoreError.single(
            "Cannot open the store.", where="store",
            expected=f"a reachable database at {target.host or target.database}"
            + (f":{target.port}" if target.port else ""),
            got=str(error.orig).strip().splitlines()[0] if error.orig else "no connection",
            fix="check that the database runs and the URL is right",
        ) from None


def as_utc(moment: datetime | None) -> Any:
    """SQLite returns naive datetimes; everything cairn writes is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_S * 1000}")
    cursor.close()


def _ensure_one_production_index(engine: Engine) -> None:
    """Give a store made before the one-production index existed that index (create_all makes only missing
    tables). Not if the store already holds two production versions of a model: the registry's lock keeps the
    rule without it, the next promote of that model repairs the data, and a later open adds the index. A store
    the user may not change (no privilege, locked) is left as it is, with a warning."""
    if engine.dialect.name not in ("sqlite", "postgresql"):
        return
    table = Base.metadata.tables[ModelVersionRow.__tablename__]
    index = next(i for i in table.indexes if i.name == ONE_PRODUCTION_INDEX)
    try:
        with engine.connect() as connection:
            if inspect(connection).has_index(table.name, ONE_PRODUCTION_INDEX):
                return
        with engine.begin() as connection:
            doubled = _models_with_two_productions(connection)
            if not doubled:
                connection.execute(CreateIndex(index, if_not_exists=True))
    except DBAPIError as error:
        with engine.connect() as connection:  # two processes opening the store at once: one made it
            if inspect(connection).has_index(table.name, ONE_PRODUCTION_INDEX):
                return
            doubled = _models_with_two_productions(connection)
        if not doubled:
            log.warning("The store's model registry could not be given its one-production index (%s); promotes "
                        "still take a lock, and the next open tries again.", _first_line(error))
            return
    if doubled:
        log.warning("The store holds more than one production version of model id(s) %s, left by an earlier cairn; "
                    "the one-production index is not added until `cairn promote VERSION` picks one.",
                    ", ".join(map(str, doubled)))


def _models_with_two_productions(connection: Connection) -> list[int]:
    return list(connection.scalars(
        select(ModelVersionRow.model_id).where(ModelVersionRow.stage == "production")
        .group_by(ModelVersionRow.model_id).having(func.count() > 1)
    ))


def _is_lock_wait(error: OperationalError) -> bool:
    """SQLite's "database is locked" after busy_timeout, PostgreSQL's lock_not_available after lock_timeout."""
    return getattr(error.orig, "sqlstate", None) == "55P03" or "database is locked" in str(error.orig)


def _first_line(error: DBAPIError) -> str:
    text = str(error.orig if error.orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_by_version(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], set[tuple[datetime, datetime]]]:
    """The (start, end) of the windows in performance rows, per (project, model, version), in UTC."""
    spans: dict[tuple[str, str, int], set[tuple[datetime, datetime]]] = {}
    for row in rows:
        spans.setdefault((row["project"], row["model"], row["version"]), set()).add(
            (as_utc(row["window_start"]), as_utc(row["window_end"])))
    return spans


__all__ = ["RunRecord", "StageRecord", "Store", "SQLAlchemyError", "engine_url", "redacted"]

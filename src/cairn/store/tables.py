"""The store's tables (SQLAlchemy 2). Runs, their stage executions, artifacts, metrics and the model registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class RunRow(Base):
    __tablename__ = "cairn_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    config_hash: Mapped[str] = mapped_column(String(64))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(200))
    # when `cairn gc` deleted the run's artifacts (migration 0002); null while they are kept
    artifacts_collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StageRow(Base):
    __tablename__ = "cairn_stage_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("cairn_runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))  # succeeded | failed
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # output name -> artifact sha256
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ArtifactRow(Base):
    __tablename__ = "cairn_artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # parquet | joblib | html | json
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricRow(Base):
    __tablename__ = "cairn_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("cairn_runs.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(40))  # holdout | cv | train | latency
    model: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    value: Mapped[float] = mapped_column(Float)


class ModelRow(Base):
    __tablename__ = "cairn_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# At most one production version per model, kept by the database itself: a partial unique index, which SQLite
# and PostgreSQL have (elsewhere the registry's row lock alone keeps it). A store made before the index existed
# gets it when opened (Store.open), unless it already holds two production versions of a model.
ONE_PRODUCTION_INDEX = "uq_cairn_model_versions_one_production"
PRODUCTION = text("stage = 'production'")


class ModelVersionRow(Base):
    __tablename__ = "cairn_model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index(ONE_PRODUCTION_INDEX, "model_id", unique=True, sqlite_where=PRODUCTION,
              postgresql_where=PRODUCTION)
        .ddl_if(dialect=("sqlite", "postgresql")),  # type: ignore[arg-type]  # a tuple is documented and works
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("cairn_models.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("cairn_runs.id", ondelete="SET NULL"))
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("cairn_artifacts.sha256"))
    stage: Mapped[str] = mapped_column(String(20))  # production | candidate | archived
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    # the version's model card (a text artifact); added by a migration (Store.open), so null for older versions
    card_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ModelAliasRow(Base):
    """A name that points at one version of a model: `challenger`, or any the user gives (`cairn alias`). The
    champion is not here: it is the version whose stage is production, which the one-production index guards."""

    __tablename__ = "cairn_model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("cairn_models.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """One registry action: who, when, what, on which version, from which run, why, with the figures behind it.
    Written in the transaction of the action itself, so the log never misses one nor holds one that did not
    happen. The run is a plain number, not a foreign key: the log outlives any run's deletion."""

    __tablename__ = "cairn_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))  # the OS user, and host
    action: Mapped[str] = mapped_column(String(40))  # register | promote | rollback | alias | decide
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FeedbackRow(Base):
    """Ground truth come back for a prediction: by `POST /feedback` (the id the service answered with) or by
    `cairn feedback FILE` (ids, or input rows the champion predicted when fed back: then the record, protected as
    the prediction log keeps it, and the prediction are here too). Several service workers insert side by side; a
    prediction fed back twice keeps both rows, and the latest received is the one read."""

    __tablename__ = "cairn_feedback"
    __table_args__ = (Index("ix_cairn_feedback_model_version", "project", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    prediction_id: Mapped[str] = mapped_column(String(128), index=True)
    actual: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # monitoring.time_column, or null
    source: Mapped[str] = mapped_column(String(20))  # api | file
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # file rows of inputs: TrainedModel.loggable
    prediction: Mapped[Any] = mapped_column(JSON, nullable=True)  # file rows of inputs: the champion's answer


class PerformanceRow(Base):
    """A success metric of one model version in one time window: realised on ground truth (with its bootstrap
    interval) or estimated without it. Upserted per (project, model, version, window, metric, kind)."""

    __tablename__ = "cairn_performance"
    __table_args__ = (UniqueConstraint("project", "model", "version", "window_start", "metric", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    metric: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))  # realised | estimated
    value: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    met: Mapped[bool | None] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MonitoringArtifactRow(Base):
    """What monitoring fits once per model version and keeps (the error model behind a regression estimate)."""

    __tablename__ = "cairn_monitoring_artifacts"
    __table_args__ = (UniqueConstraint("project", "model", "version", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DriftHistoryRow(Base):
    """One feature judged by one `cairn monitor` check (issue 13): its PSI, test p-value and verdict, beside the
    check's own figures (share drifted, domain classifier AUC, prediction PSI, rows, the span of requests it
    covered), repeated on each of its rows so a chart of drift over checks is one query. A check that judged no
    feature keeps one row with a null feature, so the check itself is not lost."""

    __tablename__ = "cairn_drift_history"
    __table_args__ = (Index("ix_cairn_drift_history_model_version", "project", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(String(32), index=True)  # one per check: a random hex id
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer)  # of the window checked
    first_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first request of it, when known
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    share_drifted: Mapped[float] = mapped_column(Float)
    domain_auc: Mapped[float | None] = mapped_column(Float)
    prediction_psi: Mapped[float | None] = mapped_column(Float)
    feature: Mapped[str | None] = mapped_column(String(200))
    psi: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    drifted: Mapped[bool | None] = mapped_column(Boolean)

"""The store's tables as cairn 0.2.0 made them (a frozen copy of src/cairn/store/tables.py before migrations): what
a store of the release before migrations holds (tests/store/test_migrations.py). Never edit it to follow tables.py."""

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

"""The store as cairn made it before migrations (tables.py at the commit that introduced them).

On an empty database it creates every table. On a store made by that earlier cairn (the tables are there, no
`alembic_version`) it creates only what the store lacks: a table a still older cairn did not have (aliases, audit)
and the model card column. The one-production index is added with a new versions table; an older table gets it from
`Store.open` (cairn.store.repository), which leaves it out while the data holds two production versions of a model.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ONE_PRODUCTION_INDEX = "uq_cairn_model_versions_one_production"
PRODUCTION = sa.text("stage = 'production'")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())

    if "cairn_runs" not in existing:
        op.create_table(
            "cairn_runs",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("started_at", TIME, nullable=False),
            sa.Column("finished_at", TIME, nullable=True),
            sa.Column("config_hash", sa.String(length=64), nullable=False),
            sa.Column("data_fingerprint", sa.String(length=64), nullable=True),
            sa.Column("manifest", sa.JSON(), nullable=False),
            sa.Column("verdict", sa.JSON(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("pid", sa.Integer(), nullable=True),
            sa.Column("host", sa.String(length=200), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_cairn_runs_project", "cairn_runs", ["project"])

    if "cairn_stage_executions" not in existing:
        op.create_table(
            "cairn_stage_executions",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("stage", sa.String(length=40), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("cache_key", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("cached", sa.Boolean(), nullable=False),
            sa.Column("started_at", TIME, nullable=False),
            sa.Column("duration_s", sa.Float(), nullable=False),
            sa.Column("outputs", sa.JSON(), nullable=False),
            sa.Column("notes", sa.JSON(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["cairn_runs.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_cairn_stage_executions_cache_key", "cairn_stage_executions", ["cache_key"])
        op.create_index("ix_cairn_stage_executions_run_id", "cairn_stage_executions", ["run_id"])

    if "cairn_artifacts" not in existing:
        op.create_table(
            "cairn_artifacts",
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("size_bytes", sa.BigInteger(), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("sha256"),
        )

    if "cairn_metrics" not in existing:
        op.create_table(
            "cairn_metrics",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("scope", sa.String(length=40), nullable=False),
            sa.Column("model", sa.String(length=80), nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("value", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["cairn_runs.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_cairn_metrics_run_id", "cairn_metrics", ["run_id"])

    if "cairn_models" not in existing:
        op.create_table(
            "cairn_models",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
        )

    if "cairn_model_versions" not in existing:
        op.create_table(
            "cairn_model_versions",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("model_id", sa.Integer(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
            sa.Column("stage", sa.String(length=20), nullable=False),
            sa.Column("metrics", sa.JSON(), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.Column("note", sa.Text(), nullable=True),
            sa.Column("card_sha256", sa.String(length=64), nullable=True),
            sa.ForeignKeyConstraint(["artifact_sha256"], ["cairn_artifacts.sha256"]),
            sa.ForeignKeyConstraint(["model_id"], ["cairn_models.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["run_id"], ["cairn_runs.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("model_id", "version"),
        )
        op.create_index("ix_cairn_model_versions_model_id", "cairn_model_versions", ["model_id"])
        if bind.dialect.name in ("sqlite", "postgresql"):
            op.create_index(ONE_PRODUCTION_INDEX, "cairn_model_versions", ["model_id"], unique=True,
                            sqlite_where=PRODUCTION, postgresql_where=PRODUCTION)
    elif "card_sha256" not in {c["name"] for c in sa.inspect(bind).get_columns("cairn_model_versions")}:
        op.add_column("cairn_model_versions", sa.Column("card_sha256", sa.String(length=64), nullable=True))

    if "cairn_model_aliases" not in existing:
        op.create_table(
            "cairn_model_aliases",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("model_id", sa.Integer(), nullable=False),
            sa.Column("alias", sa.String(length=40), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("updated_at", TIME, nullable=False),
            sa.ForeignKeyConstraint(["model_id"], ["cairn_models.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("model_id", "alias"),
        )
        op.create_index("ix_cairn_model_aliases_model_id", "cairn_model_aliases", ["model_id"])

    if "cairn_audit" not in existing:
        op.create_table(
            "cairn_audit",
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
            sa.Column("at", TIME, nullable=False),
            sa.Column("actor", sa.String(length=200), nullable=False),
            sa.Column("action", sa.String(length=40), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=True),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("figures", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_cairn_audit_model", "cairn_audit", ["model"])


def downgrade() -> None:
    for table in ("cairn_audit", "cairn_model_aliases", "cairn_model_versions", "cairn_models", "cairn_metrics",
                  "cairn_artifacts", "cairn_stage_executions", "cairn_runs"):
        op.drop_table(table)

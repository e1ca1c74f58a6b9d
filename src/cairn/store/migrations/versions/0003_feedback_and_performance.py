"""Ground truth fed back, performance per time window, and what monitoring fits once per version (issue 13).

The three tables existed in development stores before this migration (created by `Store.open` from tables.py),
so each is created only when missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "cairn_feedback" not in existing:
        op.create_table(
            "cairn_feedback",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("project", sa.String(200), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("prediction_id", sa.String(128), nullable=False),
            sa.Column("actual", sa.JSON(), nullable=False),
            sa.Column("received_at", TIME, nullable=False),
            sa.Column("event_at", TIME, nullable=True),
            sa.Column("source", sa.String(20), nullable=False),
            sa.Column("record", sa.JSON(), nullable=True),
            sa.Column("prediction", sa.JSON(), nullable=True),
        )
        op.create_index("ix_cairn_feedback_model_version", "cairn_feedback", ["project", "model", "version"])
        op.create_index("ix_cairn_feedback_prediction_id", "cairn_feedback", ["prediction_id"])
    if "cairn_performance" not in existing:
        op.create_table(
            "cairn_performance",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("project", sa.String(200), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("window_start", TIME, nullable=False),
            sa.Column("window_end", TIME, nullable=False),
            sa.Column("metric", sa.String(80), nullable=False),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("value", sa.Float(), nullable=True),
            sa.Column("low", sa.Float(), nullable=True),
            sa.Column("high", sa.Float(), nullable=True),
            sa.Column("threshold", sa.Float(), nullable=True),
            sa.Column("met", sa.Boolean(), nullable=True),
            sa.Column("rows", sa.Integer(), nullable=False),
            sa.Column("computed_at", TIME, nullable=False),
            sa.UniqueConstraint("project", "model", "version", "window_start", "metric", "kind"),
        )
    if "cairn_monitoring_artifacts" not in existing:
        op.create_table(
            "cairn_monitoring_artifacts",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("project", sa.String(200), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(40), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.UniqueConstraint("project", "model", "version", "kind"),
        )


def downgrade() -> None:
    for table in ("cairn_monitoring_artifacts", "cairn_performance", "cairn_feedback"):
        op.drop_table(table)

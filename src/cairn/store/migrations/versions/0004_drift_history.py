"""Drift per feature of each `cairn monitor` check, kept so drift can be read over time (issue 13).

The table may exist in a development store before this migration (created by `Store.open` from tables.py), so it
is created only when missing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)
TABLE = "cairn_drift_history"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(32), nullable=False),
        sa.Column("checked_at", TIME, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_at", TIME, nullable=True),
        sa.Column("last_at", TIME, nullable=True),
        sa.Column("share_drifted", sa.Float(), nullable=False),
        sa.Column("domain_auc", sa.Float(), nullable=True),
        sa.Column("prediction_psi", sa.Float(), nullable=True),
        sa.Column("feature", sa.String(200), nullable=True),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_cairn_drift_history_model_version", TABLE, ["project", "model", "version"])
    op.create_index("ix_cairn_drift_history_check_id", TABLE, ["check_id"])


def downgrade() -> None:
    op.drop_table(TABLE)

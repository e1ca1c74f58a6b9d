"""Runs remember when `cairn gc` collected their artifacts, so `cairn show` can say so.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("cairn_runs", sa.Column("artifacts_collected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cairn_runs") as batch:
        batch.drop_column("artifacts_collected_at")

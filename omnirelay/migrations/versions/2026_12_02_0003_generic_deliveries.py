"""deliveries of any kind: due index by kind, replay budget, result, subject reference

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Adds columns only (with defaults) and swaps one index, so every row, attempt and dead
letter written before stays as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnirelay.models.base import JSONText

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "event_deliveries",
        sa.Column("attempt_base", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("event_deliveries", sa.Column("result", JSONText(), nullable=True))
    op.add_column("event_deliveries", sa.Column("subject_ref", sa.String(64), nullable=True))
    op.create_index(
        "ix_event_deliveries_subject_ref", "event_deliveries", ["subject_ref"], unique=False
    )
    op.create_index(
        "ix_event_deliveries_kind_due",
        "event_deliveries",
        ["kind", "status", "next_attempt_at"],
        unique=False,
    )
    op.drop_index("ix_event_deliveries_due", table_name="event_deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_event_deliveries_due", "event_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.drop_index("ix_event_deliveries_kind_due", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_subject_ref", table_name="event_deliveries")
    # plain DROP COLUMN (SQLite >= 3.35): no table rebuild, which would cascade-delete
    # the attempts that reference the deliveries
    for column in ("subject_ref", "result", "attempt_base"):
        op.drop_column("event_deliveries", column)

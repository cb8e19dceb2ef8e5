"""A delivery need not belong to a storefront: a campaign deploy belongs to a brand.

SQLite rebuilds the table for this; it keeps AUTOINCREMENT and its counter (see 0007), so
no id given before is given again.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def _storefront_optional(nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    seq = None
    if sqlite:
        seq = (
            op.get_bind()
            .execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'event_deliveries'"))
            .scalar()
        )
    with op.batch_alter_table(
        "event_deliveries", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.alter_column("storefront_id", existing_type=sa.Integer(), nullable=nullable)
    if sqlite and seq is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'event_deliveries'")
        op.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('event_deliveries', :seq)"
            ).bindparams(seq=seq)
        )


def upgrade() -> None:
    _storefront_optional(True)


def downgrade() -> None:
    op.execute("DELETE FROM event_deliveries WHERE storefront_id IS NULL")
    _storefront_optional(False)

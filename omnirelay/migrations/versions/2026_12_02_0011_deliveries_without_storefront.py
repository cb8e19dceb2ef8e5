"""A delivery need not belong to a storefront: a campaign deploy belongs to a brand.

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


def upgrade() -> None:
    with op.batch_alter_table("event_deliveries") as batch:
        batch.alter_column("storefront_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM event_deliveries WHERE storefront_id IS NULL")
    with op.batch_alter_table("event_deliveries") as batch:
        batch.alter_column("storefront_id", existing_type=sa.Integer(), nullable=False)

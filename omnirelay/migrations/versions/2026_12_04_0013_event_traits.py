"""The known user traits of each behavioural event, one row per event (seed 002's 1:1
``user_traits`` per event; the table ``user_traits`` stays the per-user profile).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_traits",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(50), nullable=True),
        sa.Column("country", sa.String(50), nullable=True),
        sa.Column("marketing_opt_in", sa.Boolean(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("risk_segment", sa.String(50), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["marketing_events.id"],
            name=op.f("fk_event_traits_event_id_marketing_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_traits")),
    )
    op.create_index(op.f("ix_event_traits_marketing_opt_in"), "event_traits", ["marketing_opt_in"])
    op.create_index(op.f("ix_event_traits_risk_segment"), "event_traits", ["risk_segment"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_traits_risk_segment"), table_name="event_traits")
    op.drop_index(op.f("ix_event_traits_marketing_opt_in"), table_name="event_traits")
    op.drop_table("event_traits")

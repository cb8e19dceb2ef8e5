"""message sends: a decision to send, its rendered text and its outcome

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A new table only; its attempts are deliveries of kind ``message`` in the existing
``event_deliveries``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnirelay.models.base import JSONText, UTCDateTime, utc_timestamp_default

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_sends",
        sa.Column("id", ID, nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("rule_name", sa.String(100), nullable=False),
        sa.Column("template_name", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("status", sa.String(20), server_default="queued", nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("context", JSONText(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["marketing_events.id"],
            name=op.f("fk_message_sends_event_id_marketing_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_sends")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_message_sends_decision_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_message_sends_idempotency_key")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_message_sends_event_id"), "message_sends", ["event_id"])
    op.create_index("ix_message_sends_user_created", "message_sends", ["user_id", "created_at"])
    op.create_index(
        "ix_message_sends_storefront_status", "message_sends", ["storefront_id", "status"]
    )


def downgrade() -> None:
    op.drop_table("message_sends")

"""messaging: event properties, user traits, decisions, suppression claims, cap slots, inbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnirelay.models.base import (
    CaseSensitiveString,
    JSONText,
    UTCDateTime,
    utc_timestamp_default,
)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULE_NAME_LENGTH = 200  # frozen here: models.messaging may change its own


def _event_fk(table: str, column: str = "event_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["marketing_events.id"],
        name=op.f(f"fk_{table}_{column}_marketing_events"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "event_properties",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("failure_reason", sa.String(100), nullable=True),
        sa.Column("attempt_number", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(10), nullable=True),
        sa.Column("plan", sa.String(100), nullable=True),
        _event_fk("event_properties"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_properties")),
    )
    op.create_index(
        op.f("ix_event_properties_failure_reason"), "event_properties", ["failure_reason"]
    )
    op.create_index(
        op.f("ix_event_properties_attempt_number"), "event_properties", ["attempt_number"]
    )

    op.create_table(
        "user_traits",
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("user_id", CaseSensitiveString(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(50), nullable=True),
        sa.Column("country", sa.String(50), nullable=True),
        sa.Column("marketing_opt_in", sa.Boolean(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("risk_segment", sa.String(50), nullable=True),
        sa.Column("other", JSONText(), nullable=True),
        sa.Column("traits_at", UTCDateTime(), nullable=True),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["storefront_id"],
            ["storefronts.id"],
            name=op.f("fk_user_traits_storefront_id_storefronts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("storefront_id", "user_id", name=op.f("pk_user_traits")),
    )
    op.create_index(op.f("ix_user_traits_marketing_opt_in"), "user_traits", ["marketing_opt_in"])
    op.create_index(op.f("ix_user_traits_risk_segment"), "user_traits", ["risk_segment"])

    op.create_table(
        "message_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("user_id", CaseSensitiveString(255), nullable=False),
        sa.Column("event_type", CaseSensitiveString(50), nullable=False),
        sa.Column("event_timestamp", UTCDateTime(), nullable=False),
        sa.Column("rule", CaseSensitiveString(RULE_NAME_LENGTH), nullable=True),
        sa.Column("action_type", sa.String(10), nullable=True),
        sa.Column("template_name", sa.String(200), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("explanation", JSONText(), nullable=True),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=True),
        _event_fk("message_decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_decisions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_message_decisions_event_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_message_decisions_user_decided", "message_decisions", ["user_id", "decided_at"]
    )
    op.create_index(
        "ix_message_decisions_user_type_decided",
        "message_decisions",
        ["user_id", "event_type", "decided_at"],
    )
    op.create_index(
        "ix_message_decisions_user_rule_decided",
        "message_decisions",
        ["user_id", "rule", "decided_at"],
    )

    op.create_table(
        "message_suppressions",
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("user_id", CaseSensitiveString(255), nullable=False),
        sa.Column("rule_name", CaseSensitiveString(RULE_NAME_LENGTH), nullable=False),
        sa.Column("window_key", sa.String(20), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_timestamp", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        _event_fk("message_suppressions"),
        sa.PrimaryKeyConstraint(
            "storefront_id",
            "user_id",
            "rule_name",
            "window_key",
            name=op.f("pk_message_suppressions"),
        ),
    )
    op.create_index(op.f("ix_message_suppressions_event_id"), "message_suppressions", ["event_id"])

    op.create_table(
        "message_cap_slots",
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("user_id", CaseSensitiveString(255), nullable=False),
        sa.Column("scope", CaseSensitiveString(RULE_NAME_LENGTH + 5), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("held_at", UTCDateTime(), nullable=True),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint(
            "storefront_id", "user_id", "scope", "slot", name=op.f("pk_message_cap_slots")
        ),
    )

    op.create_table(
        "message_inbox",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        _event_fk("message_inbox"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_message_inbox")),
    )


def downgrade() -> None:
    op.drop_table("message_inbox")
    op.drop_table("message_cap_slots")
    op.drop_table("message_suppressions")
    op.drop_table("message_decisions")
    op.drop_table("user_traits")
    op.drop_table("event_properties")

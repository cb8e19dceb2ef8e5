"""trafficking: markets, brands, channels, campaigns and their names, tickets with their
status history, brand credentials for ad platforms

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

On PostgreSQL the revision also creates ``omnirelay_jsonb_or_null(text)``: a campaign's
performance reads ``utm_campaign`` out of ``marketing_events.event_payload``, a text column
the OMS may fill itself, and a plain cast would fail the whole query on one row that is not
JSON (SQLite and MariaDB have ``json_valid`` for that; PostgreSQL 15 has no such test).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnirelay.models.base import CaseSensitiveString, JSONText, UTCDateTime, utc_timestamp_default

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.String(36)

JSONB_OR_NULL = """
CREATE OR REPLACE FUNCTION omnirelay_jsonb_or_null(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$
"""


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", UUID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("internal_code", CaseSensitiveString(20), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("internal_code", name=op.f("uq_brands_internal_code")),
    )
    op.create_table(
        "channels",
        sa.Column("id", UUID, nullable=False),
        sa.Column("platform_name", CaseSensitiveString(20), nullable=False),
        sa.Column("api_identifier", sa.String(100), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("platform_name", name=op.f("uq_channels_platform_name")),
    )
    op.create_table(
        "markets",
        sa.Column("id", UUID, nullable=False),
        sa.Column("code", CaseSensitiveString(20), nullable=False),
        sa.Column("country", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markets")),
        sa.UniqueConstraint("code", name=op.f("uq_markets_code")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", UUID, nullable=False),
        sa.Column("name", CaseSensitiveString(255), nullable=False),
        sa.Column("campaign_name", sa.String(255), nullable=False),
        sa.Column("brand_id", UUID, nullable=False),
        sa.Column("market_id", UUID, nullable=False),
        sa.Column("channel_id", UUID, nullable=True),
        sa.Column("budget", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), server_default="DRAFT", nullable=False),
        sa.Column("taxonomy_version", sa.String(50), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_campaigns_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_campaigns_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_campaigns_market_id_markets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    for column in ("brand_id", "channel_id", "market_id"):
        op.create_index(op.f(f"ix_campaigns_{column}"), "campaigns", [column])

    op.create_table(
        "campaign_names",
        sa.Column("name", CaseSensitiveString(255), nullable=False),
        sa.Column("campaign_id", UUID, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_names_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_campaign_names")),
    )
    op.create_index(op.f("ix_campaign_names_campaign_id"), "campaign_names", ["campaign_id"])

    op.create_table(
        "trafficking_credentials",
        sa.Column("id", UUID, nullable=False),
        sa.Column("brand_id", UUID, nullable=False),
        sa.Column("market_id", UUID, nullable=True),
        sa.Column("market_key", sa.String(36), nullable=False),
        sa.Column("platform", CaseSensitiveString(20), nullable=False),
        sa.Column("settings_encrypted", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_trafficking_credentials_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_trafficking_credentials_market_id_markets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trafficking_credentials")),
        sa.UniqueConstraint(
            "brand_id",
            "market_key",
            "platform",
            name=op.f("uq_trafficking_credentials_brand_id_market_key_platform"),
        ),
    )
    for column in ("brand_id", "market_id"):
        op.create_index(
            op.f(f"ix_trafficking_credentials_{column}"), "trafficking_credentials", [column]
        )

    op.create_table(
        "tickets",
        sa.Column("id", UUID, nullable=False),
        sa.Column("campaign_id", UUID, nullable=False),
        sa.Column("channel_id", UUID, nullable=False),
        sa.Column("request_type", sa.String(50), nullable=False),
        sa.Column("payload_config", JSONText(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), server_default="DRAFT", nullable=False),
        sa.Column("deployed_name", CaseSensitiveString(255), nullable=False),
        sa.Column("external_platform_id", sa.String(100), nullable=True),
        sa.Column("qa_failure_reason", sa.Text(), nullable=True),
        sa.Column("deploy_task_id", sa.String(64), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_tickets_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_tickets_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    for column in ("campaign_id", "channel_id", "deploy_task_id"):
        op.create_index(op.f(f"ix_tickets_{column}"), "tickets", [column])
    op.create_index("ix_tickets_status_updated_at", "tickets", ["status", "updated_at"])

    op.create_table(
        "ticket_status_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", UUID, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_status_history_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_status_history")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_ticket_status_history_ticket_id"), "ticket_status_history", ["ticket_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(JSONB_OR_NULL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS omnirelay_jsonb_or_null(text)")
    for table in (
        "ticket_status_history",
        "tickets",
        "trafficking_credentials",
        "campaign_names",
        "campaigns",
        "markets",
        "channels",
        "brands",
    ):
        op.drop_table(table)

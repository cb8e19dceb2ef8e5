"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:51:16.387494
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnirelay.models.base import CaseSensitiveString, JSONText, UTCDateTime, utc_timestamp_default

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ad_analytics_platforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_code", CaseSensitiveString(50), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=30), server_default="ads", nullable=False),
        sa.Column("auth_type", sa.String(length=30), nullable=False),
        sa.Column("credential_fields", JSONText(), nullable=False),
        sa.Column("docs_url", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_analytics_platforms")),
        sa.UniqueConstraint("platform_code", name=op.f("uq_ad_analytics_platforms_platform_code")),
    )
    op.create_table(
        "delivery_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("destination_code", sa.String(length=50), nullable=False),
        sa.Column("method", sa.String(length=10), server_default="POST", nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("event_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_requests")),
    )
    op.create_table(
        "storefronts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("storefront_id", CaseSensitiveString(50), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storefronts")),
        sa.UniqueConstraint("storefront_id", name=op.f("uq_storefronts_storefront_id")),
    )
    op.create_table(
        "marketing_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", CaseSensitiveString(100), nullable=False),
        sa.Column("storefront_id", sa.Integer(), nullable=True),
        sa.Column("storefront_code", CaseSensitiveString(50), nullable=True),
        sa.Column("event_type", CaseSensitiveString(50), nullable=False),
        sa.Column("event_payload", sa.Text(), nullable=False),
        sa.Column(
            "source_system", sa.String(length=50), server_default="oms_direct", nullable=False
        ),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("event_time", UTCDateTime(), nullable=True),
        sa.Column(
            "received_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "storefront_id IS NOT NULL OR storefront_code IS NOT NULL",
            name=op.f("ck_marketing_events_storefront_given"),
        ),
        sa.ForeignKeyConstraint(
            ["storefront_id"],
            ["storefronts.id"],
            name=op.f("fk_marketing_events_storefront_id_storefronts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_events")),
        sa.UniqueConstraint(
            "storefront_id", "event_type", "event_id", name="uq_marketing_events_dedup"
        ),
    )
    with op.batch_alter_table("marketing_events", schema=None) as batch_op:
        batch_op.create_index("ix_marketing_events_received_at", ["received_at"], unique=False)
        batch_op.create_index("ix_marketing_events_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_marketing_events_storefront_time", ["storefront_id", "event_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketing_events_user_id"), ["user_id"], unique=False)

    op.create_table(
        "platform_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=False),
        sa.Column("settings", JSONText(), nullable=True),
        sa.Column("event_types", JSONText(), nullable=True),
        sa.Column("event_name_map", JSONText(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["ad_analytics_platforms.id"],
            name=op.f("fk_platform_credentials_platform_id_ad_analytics_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["storefront_id"],
            ["storefronts.id"],
            name=op.f("fk_platform_credentials_storefront_id_storefronts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_credentials")),
        sa.UniqueConstraint(
            "storefront_id",
            "platform_id",
            name=op.f("uq_platform_credentials_storefront_id_platform_id"),
        ),
    )
    with op.batch_alter_table("platform_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_platform_credentials_platform_id"), ["platform_id"], unique=False
        )

    op.create_table(
        "storefront_sgtm_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("sgtm_url", sa.String(length=500), nullable=False),
        sa.Column("client_type", sa.String(length=20), server_default="ga4", nullable=False),
        sa.Column("measurement_id", sa.String(length=50), nullable=True),
        sa.Column("api_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("custom_endpoint_path", sa.String(length=255), nullable=True),
        sa.Column("custom_headers_encrypted", sa.Text(), nullable=True),
        sa.Column("event_types", JSONText(), nullable=True),
        sa.Column("event_name_map", JSONText(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["storefront_id"],
            ["storefronts.id"],
            name=op.f("fk_storefront_sgtm_config_storefront_id_storefronts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storefront_sgtm_config")),
        sa.UniqueConstraint("storefront_id", name=op.f("uq_storefront_sgtm_config_storefront_id")),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), server_default="relay", nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("storefront_id", sa.Integer(), nullable=False),
        sa.Column("destination_type", sa.String(length=20), nullable=False),
        sa.Column("destination_code", sa.String(length=50), nullable=False),
        sa.Column("destination_key", sa.String(length=80), nullable=False),
        sa.Column("sgtm_config_id", sa.Integer(), nullable=True),
        sa.Column("credential_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column(
            "created_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.Column(
            "updated_at", UTCDateTime(), server_default=utc_timestamp_default(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["marketing_events.id"],
            name=op.f("fk_event_deliveries_event_id_marketing_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint(
            "event_id", "destination_key", name=op.f("uq_event_deliveries_event_id_destination_key")
        ),
    )
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_event_deliveries_storefront_status", ["storefront_id", "status"], unique=False
        )

    op.create_table(
        "event_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("destination_type", sa.String(length=20), nullable=False),
        sa.Column("destination_code", sa.String(length=50), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", sa.Text(), nullable=True),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["event_deliveries.id"],
            name=op.f("fk_event_attempts_delivery_id_event_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["marketing_events.id"],
            name=op.f("fk_event_attempts_event_id_marketing_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delivery_requests.id"],
            name=op.f("fk_event_attempts_request_id_delivery_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attempts")),
    )
    with op.batch_alter_table("event_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_attempts_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index("ix_event_attempts_event_id", ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_event_attempts_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes; MySQL refuses to drop an index a foreign key uses.
    op.drop_table("event_attempts")
    op.drop_table("event_deliveries")
    op.drop_table("storefront_sgtm_config")
    op.drop_table("platform_credentials")
    op.drop_table("marketing_events")
    op.drop_table("storefronts")
    op.drop_table("delivery_requests")
    op.drop_table("ad_analytics_platforms")

"""seed ad_analytics_platforms with the platform catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Inserts every catalog platform whose code is not there yet; rows an operator edited are
left as they are. Later catalog additions come with migrations of their own.
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from alembic import op

from omnirelay.storefronts.platform_catalog import PLATFORMS

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

platforms = sa.table(
    "ad_analytics_platforms",
    sa.column("platform_code", sa.String),
    sa.column("name", sa.String),
    sa.column("category", sa.String),
    sa.column("auth_type", sa.String),
    sa.column("credential_fields", sa.Text),
    sa.column("docs_url", sa.String),
    sa.column("is_active", sa.Boolean),
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = {row[0] for row in bind.execute(sa.select(platforms.c.platform_code))}
    rows = [
        {
            "platform_code": spec["platform_code"],
            "name": spec["name"],
            "category": spec["category"],
            "auth_type": spec["auth_type"],
            "credential_fields": orjson.dumps(spec["credential_fields"]).decode(),
            "docs_url": spec["docs_url"],
            "is_active": True,
        }
        for spec in PLATFORMS
        if spec["platform_code"] not in existing
    ]
    if rows:
        op.bulk_insert(platforms, rows)


def downgrade() -> None:
    codes = [spec["platform_code"] for spec in PLATFORMS]
    op.execute(platforms.delete().where(platforms.c.platform_code.in_(codes)))

"""seed ad_analytics_platforms with the platform catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Inserts every catalog platform whose code is not there yet; rows an operator edited are
left as they are. Later catalog additions come with migrations of their own.

The rows are this revision's own frozen copy of the catalog (the .yaml file of the same name
beside this one), never the live omnirelay/storefronts/platform_catalog.yaml: an edit there
must not change what an old revision inserts or removes.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import yaml
from alembic import op

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


def frozen_platforms() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load(
        Path(__file__).with_suffix(".yaml").read_text(encoding="utf-8")
    )
    return rows


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
        for spec in frozen_platforms()
        if spec["platform_code"] not in existing
    ]
    if rows:
        op.bulk_insert(platforms, rows)


def downgrade() -> None:
    codes = [spec["platform_code"] for spec in frozen_platforms()]
    op.execute(platforms.delete().where(platforms.c.platform_code.in_(codes)))

"""credential fields that say where requests go are marked with their kind (url or host)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

The admin API checks a credential field as a destination (http(s), no user info, not a
private or loopback address) when the platform's master data marks it with ``kind``: the
catalog's URL and host fields below. Fields of other platforms named ``url`` or ``*_url``
without a kind were checked as URLs before (by their name) and are marked ``url``, so they
stay checked.
"""

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# frozen: (platform_code, field name) -> kind, as the catalog had them at this revision
KINDS = {
    ("matomo", "url"): "url",
    ("snowplow", "collector_url"): "url",
    ("rudderstack", "data_plane_url"): "url",
    ("braze", "rest_endpoint"): "url",
    ("everflow", "tracking_domain"): "host",
    ("webhook", "url"): "url",
}

platforms = sa.table(
    "ad_analytics_platforms",
    sa.column("id", sa.Integer),
    sa.column("platform_code", sa.String),
    sa.column("credential_fields", sa.Text),
)


def _kind(code: str, name: str) -> str | None:
    if (code, name) in KINDS:
        return KINDS[(code, name)]
    return "url" if name == "url" or name.endswith("_url") else None


def _rewrite(change: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(platforms.c.id, platforms.c.platform_code, platforms.c.credential_fields)
    )
    for platform_id, code, text in rows.all():
        fields = orjson.loads(text) if text else []
        changed = [change(code, dict(f)) if isinstance(f, dict) else f for f in fields]
        if changed != fields:
            bind.execute(
                platforms.update()
                .where(platforms.c.id == platform_id)
                .values(credential_fields=orjson.dumps(changed).decode())
            )


def _mark(code: str, field: dict[str, Any]) -> dict[str, Any]:
    kind = _kind(code, str(field.get("name", "")))
    if kind is not None and not field.get("kind"):
        field["kind"] = kind
    return field


def _unmark(code: str, field: dict[str, Any]) -> dict[str, Any]:
    field.pop("kind", None)
    return field


def upgrade() -> None:
    _rewrite(_mark)


def downgrade() -> None:
    _rewrite(_unmark)

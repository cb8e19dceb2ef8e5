"""ids are never reused on SQLite: AUTOINCREMENT on every table other rows refer to

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Without AUTOINCREMENT, SQLite gives a new row the highest id in use plus one, so the id of a
deleted credential (or config, storefront, delivery ...) goes to the next one created, and
a delivery that still names the deleted one finds the new one. Each table is rebuilt with
AUTOINCREMENT (SQLite cannot add it in place; foreign keys are off meanwhile, see
``env.py``, so no row that refers to a rebuilt table is cascaded away), and its counter
starts above every id in use anywhere: the table's own, and the ids other rows still hold
(a delivery's ``credential_id`` of a credential deleted before the upgrade is not given
again either). PostgreSQL sequences and MySQL/MariaDB counters never reuse ids: nothing to
do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the columns, elsewhere, that hold its ids (frozen at this revision)
REFERENCES: dict[str, list[tuple[str, str]]] = {
    "storefronts": [
        ("marketing_events", "storefront_id"),
        ("event_deliveries", "storefront_id"),
        ("platform_credentials", "storefront_id"),
        ("storefront_sgtm_config", "storefront_id"),
    ],
    "ad_analytics_platforms": [("platform_credentials", "platform_id")],
    "storefront_sgtm_config": [("event_deliveries", "sgtm_config_id")],
    "platform_credentials": [("event_deliveries", "credential_id")],
    "marketing_events": [("event_deliveries", "event_id"), ("event_attempts", "event_id")],
    "event_deliveries": [("event_attempts", "delivery_id")],
    "delivery_requests": [("event_attempts", "request_id")],
    "event_attempts": [],
}


def _rebuild(autoincrement: bool) -> None:
    for table in REFERENCES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(True)
    for table, references in REFERENCES.items():
        highest = " UNION ALL ".join(
            [f"SELECT MAX(id) AS id FROM {table}"]
            + [f"SELECT MAX({column}) FROM {other}" for other, column in references]
        )
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq)"
            f" SELECT '{table}', COALESCE(MAX(id), 0) FROM ({highest})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(False)

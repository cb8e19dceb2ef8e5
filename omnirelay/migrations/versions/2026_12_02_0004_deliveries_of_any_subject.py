"""deliveries about any subject: event_id optional, attempts always belong to a delivery

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A delivery's subject is an event (relay, messaging) or something else named by
``subject_ref`` (a trafficking ticket), so ``event_id`` becomes optional on deliveries and
their attempts, and one subject gets at most one delivery of a kind per target. Every
attempt belongs to its delivery (``delivery_id`` NOT NULL); an attempt written without one
by an older version is linked to its event's delivery for the same destination.

On SQLite the two tables are rebuilt (it cannot alter a column in place). That runs with
foreign keys off (see ``env.py``): dropping the old ``event_deliveries`` would otherwise
cascade-delete every attempt.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNIQUE_SUBJECT = "uq_event_deliveries_kind_subject_ref_destination_key"


def upgrade() -> None:
    op.execute(
        "UPDATE event_attempts SET delivery_id = ("
        " SELECT MIN(d.id) FROM event_deliveries d"
        " WHERE d.event_id = event_attempts.event_id"
        " AND d.destination_code = event_attempts.destination_code)"
        " WHERE delivery_id IS NULL"
    )
    # what is still unlinked has no delivery left to belong to (its delivery was removed)
    op.execute("DELETE FROM event_attempts WHERE delivery_id IS NULL")
    with op.batch_alter_table("event_deliveries") as batch:
        batch.alter_column("event_id", existing_type=ID, nullable=True)
        batch.create_unique_constraint(UNIQUE_SUBJECT, ["kind", "subject_ref", "destination_key"])
    with op.batch_alter_table("event_attempts") as batch:
        batch.alter_column("event_id", existing_type=ID, nullable=True)
        batch.alter_column("delivery_id", existing_type=ID, nullable=False)


def downgrade() -> None:
    op.execute("DELETE FROM event_attempts WHERE event_id IS NULL")
    op.execute("DELETE FROM event_deliveries WHERE event_id IS NULL")
    with op.batch_alter_table("event_attempts") as batch:
        batch.alter_column("delivery_id", existing_type=ID, nullable=True)
        batch.alter_column("event_id", existing_type=ID, nullable=False)
    with op.batch_alter_table("event_deliveries") as batch:
        batch.drop_constraint(UNIQUE_SUBJECT, type_="unique")
        batch.alter_column("event_id", existing_type=ID, nullable=False)

"""A send keeps rule and template names as long as its decision does (200 characters).

The sends table held 100 while decisions and claims held 200, so a rule with a longer name
was decided and then failed to queue its send. SQLite rebuilds the table for this; it keeps
AUTOINCREMENT and its counter (see 0007), so no id given before is given again.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None

NAMES = ("rule_name", "template_name")


def _names_of_length(old: int, new: int) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    seq = None
    if sqlite:
        seq = (
            op.get_bind()
            .execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'message_sends'"))
            .scalar()
        )
    with op.batch_alter_table(
        "message_sends", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        for name in NAMES:
            batch.alter_column(
                name, existing_type=sa.String(old), type_=sa.String(new), existing_nullable=False
            )
    if sqlite and seq is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'message_sends'")
        op.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('message_sends', :seq)"
            ).bindparams(seq=seq)
        )


def upgrade() -> None:
    _names_of_length(100, 200)


def downgrade() -> None:
    _names_of_length(200, 100)

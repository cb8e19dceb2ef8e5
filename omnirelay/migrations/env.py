"""Alembic environment: async engines for all three databases, one MetaData."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from omnirelay.db import create_engine
from omnirelay.models import Base

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from omnirelay.config import Settings

        url = Settings().database_url
    return url


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        compare_server_default=False,
    )
    if sqlite:
        # SQLite alters a table by rebuilding it; with foreign keys on, dropping the old
        # table would cascade to the rows that reference it. The pragma only takes effect
        # outside a transaction, so it is set before the migrations' transaction begins,
        # and what they leave is checked before it is set back on.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"migration left rows with broken references: {broken[:5]}")
    finally:
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection: Connection, statement: str) -> None:
    if connection.in_transaction():
        connection.commit()
    connection.exec_driver_sql(statement)
    connection.commit()


async def _run_async() -> None:
    engine = create_engine(_database_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())

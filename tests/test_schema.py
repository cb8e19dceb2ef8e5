"""The migrations build exactly what the models describe, on every backend."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from omnirelay.db import create_engine
from omnirelay.migrations import alembic_config
from omnirelay.models import Base
from omnirelay.storefronts.platform_catalog import PLATFORMS


async def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    engine = create_engine(db_url)

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    await engine.dispose()
    assert differences == []


async def test_platform_master_data_is_seeded(db_url: str) -> None:
    engine = create_engine(db_url)
    async with engine.connect() as connection:
        codes = set(
            (
                await connection.execute(text("SELECT platform_code FROM ad_analytics_platforms"))
            ).scalars()
        )
    await engine.dispose()
    assert len(codes) >= 53
    assert {"meta", "ga4", "tiktok", "snapchat", "pinterest", "webhook"} <= codes
    assert codes == {p["platform_code"] for p in PLATFORMS}


async def test_downgrade_to_base_and_back(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    config = alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    engine = create_engine(url)
    async with engine.connect() as connection:
        count = (
            await connection.execute(text("SELECT count(*) FROM ad_analytics_platforms"))
        ).scalar_one()
    await engine.dispose()
    assert count == len(PLATFORMS)


# Tables whose ids deliveries and the audit refer to.
ID_TABLES = (
    "storefronts",
    "ad_analytics_platforms",
    "storefront_sgtm_config",
    "platform_credentials",
    "marketing_events",
    "event_deliveries",
    "delivery_requests",
    "event_attempts",
)


def test_models_ask_for_ids_that_are_never_reused() -> None:
    for name in ID_TABLES:
        assert Base.metadata.tables[name].dialect_options["sqlite"]["autoincrement"], name


async def test_a_deleted_rows_id_is_not_given_again(db_url: str) -> None:
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            schema = dict(
                (await connection.execute(text("SELECT name, sql FROM sqlite_master"))).all()
            )
            assert all("AUTOINCREMENT" in schema[name] for name in ID_TABLES)
        ids = []
        for code in ("first", "second"):
            await connection.execute(
                text("INSERT INTO storefronts (storefront_id, name) VALUES (:c, :c)"), {"c": code}
            )
            ids.append(
                (
                    await connection.execute(
                        text("SELECT id FROM storefronts WHERE storefront_id = :c"), {"c": code}
                    )
                ).scalar_one()
            )
            await connection.execute(
                text("DELETE FROM storefronts WHERE storefront_id = :c"), {"c": code}
            )
    await engine.dispose()
    assert ids[1] > ids[0]

"""The migrations build exactly what the models describe, on every backend."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import orjson
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import text

from omnirelay.db import create_engine
from omnirelay.migrations import MIGRATIONS_DIR, alembic_config
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


def _revision(revision: str) -> Script:
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    assert script is not None
    return script


def test_the_seed_migrations_frozen_rows_are_todays_catalog() -> None:
    """Exact (order, keys, types) but for what later migrations added: the destination
    ``kind`` of some fields (0006 writes it into stored rows)."""
    frozen = _revision("0002").module.frozen_platforms()
    today = [
        spec
        | {
            "credential_fields": [
                {k: v for k, v in f.items() if k != "kind"} for f in spec["credential_fields"]
            ]
        }
        for spec in PLATFORMS
    ]
    assert orjson.dumps(frozen) == orjson.dumps(today)
    assert any("kind" in f for spec in PLATFORMS for f in spec["credential_fields"])


def test_the_seed_migration_imports_nothing_from_omnirelay() -> None:
    # Not the live catalog, nor anything else that can change under an old revision.
    path = Path(_revision("0002").path)
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported and not {name for name in imported if name.split(".")[0] == "omnirelay"}


def test_alembic_reads_only_the_python_files_as_revisions() -> None:
    # A migration's frozen data file sits beside it in versions/ and is no revision.
    versions = MIGRATIONS_DIR / "versions"
    assert list(versions.glob("*.yaml"))
    paths = {Path(r.path) for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    assert paths == set(versions.glob("*.py"))


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

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
    """Exact today (order, keys, types); after a catalog edit only a new migration differs."""
    frozen = _revision("0002").module.frozen_platforms()
    assert orjson.dumps(frozen) == orjson.dumps(list(PLATFORMS))


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

"""SQLite's writer thread: transactions run there, a cancelled caller keeps the writer slot
until its transaction ends, the checkpointer moves the log into the database file, and a
disposed engine starts its threads again when used."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from omnirelay.db import (
    _SQLITE_WRITERS,
    create_engine,
    create_sessionmaker,
    run_transaction,
    session_scope,
)


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    return engine


async def test_work_runs_on_the_writer_thread_and_commits(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    factory = create_sessionmaker(engine)

    def write(session: Session) -> str:
        session.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        return threading.current_thread().name

    name = await run_transaction(factory, write)
    assert name.startswith("sqlite-writer")
    async with session_scope(factory, read_only=True) as session:
        assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
    await engine.dispose()


async def test_a_cancelled_caller_keeps_the_writer_slot_until_its_transaction_ends(
    tmp_path: Path,
) -> None:
    engine = await _engine(tmp_path)
    factory = create_sessionmaker(engine)
    started = threading.Event()

    def slow(session: Session) -> None:
        started.set()
        time.sleep(0.3)
        session.execute(text("INSERT INTO notes (body) VALUES ('slow')"))

    task = asyncio.create_task(run_transaction(factory, slow))
    await asyncio.to_thread(started.wait)
    task.cancel()
    # An API write waits for the writer slot: it starts only once the slow one committed.
    async with session_scope(factory) as session:
        rows = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
        await session.execute(text("INSERT INTO notes (body) VALUES ('after')"))
    assert rows == ["slow"]
    assert task.cancelled()
    await engine.dispose()


async def test_the_checkpointer_moves_the_log_into_the_database_file(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    factory = create_sessionmaker(engine)
    database = tmp_path / "writer.db"
    before = database.stat().st_size

    def write(session: Session) -> None:
        session.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "x" * 500}] * 2000
        )

    await run_transaction(factory, write)
    deadline = time.monotonic() + 5
    while database.stat().st_size <= before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert database.stat().st_size > before + 500_000
    await engine.dispose()


async def test_a_disposed_engine_writes_again(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    factory = create_sessionmaker(engine)
    await run_transaction(
        factory, lambda s: s.execute(text("INSERT INTO notes (body) VALUES ('1')"))
    )
    checkpointer = _SQLITE_WRITERS[engine.sync_engine]._checkpointer
    assert checkpointer is not None
    await engine.dispose()  # the writer's threads stop with the engine's connections
    assert not checkpointer._thread.is_alive()
    await run_transaction(
        factory, lambda s: s.execute(text("INSERT INTO notes (body) VALUES ('2')"))
    )
    async with session_scope(factory, read_only=True) as session:
        assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2
    await engine.dispose()

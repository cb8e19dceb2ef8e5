"""SQLite's one writer, as a thread of its own, and its checkpointer.

The delivery worker's write transactions (``db.run_transaction``) run on the writer thread
on a plain sqlite3 connection, one statement after the other. Through aiosqlite every
statement is four hops to the driver's thread and back, each waiting for the event loop
(busy with the other batches); here SQLite's writer slot is held only as long as the work
itself takes.

Checkpoints (copying the write-ahead log back into the database file, with an fsync) are
taken off that path too: the writer's connection does not checkpoint on commit, and a
checkpointer thread does it a few times a second on a connection of its own. The API's
connections keep SQLite's automatic checkpoints, so the log stays bounded either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
log = logging.getLogger("omnirelay.db")
CHECKPOINT_INTERVAL_SECONDS = 0.25


def configure_connection(dbapi_connection: Any, *, checkpoint_on_commit: bool = True) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
    # against process crashes, which is the failure that matters here.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    if not checkpoint_on_commit:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class SqliteWriter:
    def __init__(self, url: URL, connect_args: dict[str, Any]) -> None:
        self.engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args=connect_args | {"check_same_thread": False},
        )

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            configure_connection(dbapi_connection, checkpoint_on_commit=False)

        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.path = str(url.database)
        self._thread: ThreadPoolExecutor | None = None
        self._checkpointer: Checkpointer | None = None

    def _transaction(self, work: Callable[[Session], T], checkpointer: Checkpointer) -> T:
        with self.sessions() as session:
            try:
                result = work(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            checkpointer.wanted.set()
            return result

    async def run(self, work: Callable[[Session], T]) -> T:
        if self._thread is None or self._checkpointer is None:  # first use, or after close
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            self._checkpointer = Checkpointer(self.path)
        future = asyncio.get_running_loop().run_in_executor(
            self._thread, self._transaction, work, self._checkpointer
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The transaction goes on in the thread: keep the writer slot until it ends.
            with contextlib.suppress(Exception):
                await future
            raise

    def close(self) -> None:
        """Finish what is running, stop both threads and close the connection (``run``
        starts them again)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.engine.dispose()


class Checkpointer:
    """Passive checkpoints after the writer's commits, at most every quarter second."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wanted = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopped.is_set():
                self.wanted.wait()
                self.wanted.clear()
                if self._stopped.is_set():
                    break
                if connection is None:
                    connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # retried after the next commit
                    log.warning("checkpoint failed: %s", exc)
                self._stopped.wait(CHECKPOINT_INTERVAL_SECONDS)
            if connection is not None:  # the last commits are in the database file too
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.wanted.set()
        self._thread.join(timeout=30)

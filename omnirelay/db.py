"""Engines, session scopes and the per-dialect helpers (bulk insert-or-skip)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Table, any_, bindparam, event, literal
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from omnirelay.errors import ConfigurationError

T = TypeVar("T")

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
    "mysql+pymysql": "mysql+asyncmy",
    "postgresql+psycopg2": "postgresql+asyncpg",
}
_SUPPORTED = {"sqlite+aiosqlite", "postgresql+asyncpg", "mysql+asyncmy", "mysql+aiomysql"}


def normalize_database_url(url: str) -> str:
    """Map the plain URL forms users paste to the async drivers omnirelay uses."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(
            f"DATABASE_URL is not a URL: expected scheme://..., got {scheme!r}"
        )
    scheme = _ASYNC_DRIVERS.get(scheme, scheme)
    if scheme not in _SUPPORTED:
        raise ConfigurationError(
            f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite://, postgresql:// "
            "or mysql:// (or their +aiosqlite/+asyncpg/+asyncmy forms)"
        )
    return f"{scheme}://{rest}"


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(normalize_database_url(database_url))
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30}
    else:
        options.update(pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    if url.get_backend_name() in ("mysql", "mariadb"):
        # InnoDB's REPEATABLE READ takes gap locks on index ranges; concurrent workers that
        # claim with SKIP LOCKED and record with UPDATEs would deadlock on them.
        options["isolation_level"] = "READ COMMITTED"
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    _install_connection_setup(engine)
    if url.get_backend_name() == "sqlite":
        _SQLITE_WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return engine


# SQLite has one writer. Transactions of one process take turns on an asyncio lock instead
# of colliding on the database lock, whose busy handler sleeps in growing steps.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def _install_connection_setup(engine: AsyncEngine) -> None:
    backend = engine.dialect.name

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if backend == "sqlite":
            # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
            # against process crashes, which is the failure that matters here.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
        elif backend in ("mysql", "mariadb"):
            cursor.execute("SET time_zone = '+00:00'")
        cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(
    factory: async_sessionmaker[AsyncSession], *, read_only: bool = False
) -> AsyncIterator[AsyncSession]:
    """The one transaction owner: commit on success, roll back on any error.

    Scopes never nest, and nothing inside one waits on the network. On SQLite a scope
    that writes waits for the engine's one writer slot; a ``read_only`` scope (it must not
    write) reads its WAL snapshot beside the writer.
    """
    bind = factory.kw.get("bind")
    lock = None
    if bind is not None and not read_only:
        lock = _SQLITE_WRITE_LOCKS.get(bind.sync_engine)
    async with lock if lock is not None else contextlib.nullcontext(), factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def insert_skip_duplicates(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> int:
    """Insert rows in bulk, letting the database skip unique-key duplicates.

    Returns how many rows were inserted. The statement is a single-row INSERT executed with
    all rows at once: SQLAlchemy batches it into multi-row statements itself
    ("insertmanyvalues") without compiling one bound parameter object per value, which is
    what makes a 1,000-row batch cheap. Rows must all have the same keys.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        # INSERT IGNORE: duplicates are skipped and not counted in the affected rows.
        # Values are validated before they get here, so nothing else is ignored.
        result = await session.execute(mysql.insert(table).prefix_with("IGNORE"), list(rows))
        return max(0, result.rowcount or 0)  # type: ignore[attr-defined]
    if dialect == "sqlite":
        # sqlite3's executemany counts the rows it really inserted.
        return max(0, await bulk_insert(session, table, rows, skip_conflicts_on=conflict_columns))
    # asyncpg reports no count for executemany: RETURNING lists the rows inserted.
    returning = (
        postgresql.insert(table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(table.c.id)
    )
    result = await session.execute(returning, list(rows))
    return len(result.all())


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock (PostgreSQL)
_RETRYABLE_MYSQL_CODES = {1205, 1213}  # lock wait timeout, deadlock


def is_transient_db_error(exc: BaseException) -> bool:
    """A conflict between concurrent transactions: running the transaction again is safe."""
    if not isinstance(exc, DBAPIError):
        return False
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code in _RETRYABLE_SQLSTATES:
        return True
    args: tuple[Any, ...] = tuple(getattr(original, "args", ()))
    return bool(args) and args[0] in _RETRYABLE_MYSQL_CODES


async def run_transaction(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    attempts: int = 5,
) -> T:
    """``work`` in its own transaction, run again when it loses a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            async with session_scope(factory) as session:
                return await work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_transient_db_error(exc):
                raise
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def id_in(session: AsyncSession, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN (ids)`` for a long list of integer ids. PostgreSQL gets one array
    parameter (``= ANY($1)``): the statement text stays the same whatever the count, so it
    is prepared once, and no per-id placeholder is rendered on every call."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), postgresql.ARRAY(BigInteger)))
    return column.in_(ids)


_INSERTS: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


def _driver_insert(
    dialect: Any, table: Table, columns: tuple[str, ...], skip_conflicts_on: tuple[str, ...]
) -> tuple[str, list[Any]]:
    """The dialect's INSERT text for ``columns`` and, in parameter order, each column's bind
    processor (None where the driver takes the Python value as it is)."""
    # Keyed by what the text depends on (never by id(): a new engine's dialect may reuse
    # the address of a disposed one of another kind).
    flavour = (type(dialect), dialect.paramstyle, getattr(dialect, "is_mariadb", False))
    key = (flavour, table.name, columns, skip_conflicts_on)
    if key not in _INSERTS:
        values: dict[str, Any] = {name: bindparam(name) for name in columns}
        if skip_conflicts_on:  # SQLite only (see insert_skip_duplicates)
            statement: Any = sqlite.insert(table).values(values)
            statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
        else:
            statement = table.insert().values(values)
        compiled = statement.compile(dialect=dialect)
        order = list(compiled.positiontup or columns)
        processors = [table.c[name].type.bind_processor(dialect) for name in order]
        _INSERTS[key] = (str(compiled), list(zip(order, processors, strict=True)))
    return _INSERTS[key]


async def bulk_insert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    skip_conflicts_on: Sequence[str] = (),
) -> int:
    """Insert many rows (each with the first row's keys) with one driver ``executemany``;
    returns the driver's row count.

    For the hot paths: the values are converted once per column type here, instead of
    SQLAlchemy building and processing a parameter dictionary for every row."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    sql, plan = _driver_insert(dialect, table, tuple(rows[0]), tuple(skip_conflicts_on))
    params = [tuple(row[name] if p is None else p(row[name]) for name, p in plan) for row in rows]
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, params)
    return int(result.rowcount or 0)

"""Engines, session scopes and the per-dialect helpers (bulk insert-or-skip)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    Text,
    any_,
    bindparam,
    event,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from omnirelay.errors import ConfigurationError
from omnirelay.sqlite_writer import SqliteWriter, configure_connection

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
    _install_connection_setup(engine.sync_engine)
    if url.get_backend_name() == "sqlite":
        _SQLITE_WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
        if url.database and url.database != ":memory:":
            writer = SqliteWriter(url, options["connect_args"])
            _SQLITE_WRITERS[engine.sync_engine] = writer
            event.listen(engine.sync_engine, "engine_disposed", lambda _engine: writer.close())
            weakref.finalize(engine.sync_engine, writer.close)
    return engine


# SQLite has one writer. Transactions of one process take turns on an asyncio lock instead
# of colliding on the database lock, whose busy handler sleeps in growing steps.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Any, SqliteWriter] = weakref.WeakKeyDictionary()


def _install_connection_setup(engine: Engine) -> None:
    backend = engine.dialect.name

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if backend == "sqlite":
            configure_connection(dbapi_connection)
        elif backend in ("mysql", "mariadb"):
            cursor = dbapi_connection.cursor()
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
        for callback in session.info.pop("after_commit", ()):
            callback()


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
        inserted = await session.run_sync(
            bulk_insert, table, rows, skip_conflicts_on=conflict_columns
        )
        return max(0, inserted)
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


# PostgreSQL SQLSTATEs of a server that cannot serve: class 08 (connection exception) and
# these: too many connections, admin/crash shutdown, starting up.
_UNAVAILABLE_SQLSTATES = {"53300", "57P01", "57P02", "57P03"}
# MySQL/MariaDB client and server codes of a connection that is gone or cannot be made.
_UNAVAILABLE_MYSQL_CODES = {1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2045, 2055, 4031}
# What the drivers say (in the error's text) when the connection or the file is gone.
_UNAVAILABLE_MESSAGES = (
    "connection is closed",
    "connection was closed",
    "underlying connection is closed",
    "unable to open database file",
    "database is locked",
    "disk i/o error",
)
# An OSError counts only when it came up through one of these (not a file the app wrote).
_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "asyncmy.", "aiomysql.", "aiosqlite.", "sqlite3")


def _raised_in_database_code(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def _driver_error_is_unavailable(error: BaseException) -> bool:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(code, str) and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
        return True
    args: tuple[Any, ...] = tuple(getattr(error, "args", ()))
    if args and isinstance(args[0], int) and args[0] in _UNAVAILABLE_MYSQL_CODES:
        return True
    message = str(error).lower()
    return any(text in message for text in _UNAVAILABLE_MESSAGES)


def is_db_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (refused, dropped, timed out, pool exhausted, file
    unopenable or locked): the request may succeed later, so it is answered 503, not 500.

    Looks at ``exc`` and the errors it was raised from: SQLAlchemy wraps the driver's error
    (``DBAPIError.orig``), and the async adapters raise their own error from the driver's."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, PoolTimeoutError):
            return True
        if isinstance(error, DBAPIError):
            if error.connection_invalidated or (
                error.orig is not None and _driver_error_is_unavailable(error.orig)
            ):
                return True
        elif isinstance(error, OSError):
            if _raised_in_database_code(error):
                return True
        elif _driver_error_is_unavailable(error) and _raised_in_database_code(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def is_row_error(exc: BaseException) -> bool:
    """An error one row can cause (a constraint, bad data, a bug), as opposed to the
    database being unreachable or busy: only a row error may set a row aside."""
    if isinstance(exc, OperationalError | InterfaceError):
        return False
    return not (is_db_unavailable(exc) or is_transient_db_error(exc))


async def run_transaction(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[[Session], T],
    attempts: int = 5,
) -> T:
    """``work`` in a transaction of its own, run again when it loses a deadlock.

    ``work`` is synchronous and gets a plain ``Session``: on SQLite it runs on the
    engine's writer thread, elsewhere through the async driver (``run_sync``)."""
    bind = factory.kw["bind"]
    writer = _SQLITE_WRITERS.get(bind.sync_engine)
    if writer is not None:
        async with _SQLITE_WRITE_LOCKS[bind.sync_engine]:
            return await writer.run(work)
    for attempt in range(1, attempts + 1):
        try:
            async with session_scope(factory) as session:
                return await session.run_sync(work)
        except DBAPIError as exc:
            if attempt == attempts or not is_transient_db_error(exc):
                raise
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def id_in(
    session: Session | AsyncSession, column: Any, ids: Collection[int]
) -> ColumnElement[bool]:
    """``column IN (ids)`` for a long list of integer ids, bound as ONE parameter where the
    database allows it: an array on PostgreSQL (``= ANY($1)``), JSON text on SQLite
    (``IN (SELECT value FROM json_each(?))``). The statement text then stays the same
    whatever the count, so it is compiled and prepared once, and no placeholder per id is
    rendered and bound on every call. MySQL/MariaDB get the plain expanded ``IN``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return column == any_(literal(list(ids), postgresql.ARRAY(BigInteger)))
    if dialect == "sqlite":
        ids_json = literal(orjson.dumps(list(ids)).decode(), Text())
        return column.in_(select(literal_column("value")).select_from(func.json_each(ids_json)))
    return column.in_(ids)


def update_in_chunks(
    session: Session,
    table: Any,
    ids: list[int],
    values: dict[str, Any],
    chunk: int = 1000,
    *where: Any,
) -> None:
    """``UPDATE table SET values WHERE id IN (ids) [AND where]``, a thousand ids per
    statement."""
    for start in range(0, len(ids), chunk):
        session.execute(
            update(table)
            .where(id_in(session, table.c.id, ids[start : start + chunk]), *where)
            .values(values)
        )


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


def bulk_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    skip_conflicts_on: Sequence[str] = (),
) -> int:
    """Insert many rows (each with the first row's keys) with one driver ``executemany``;
    returns the driver's row count.

    For the hot paths: each row's values are read in one C call (``itemgetter``) and
    converted column by column, only where the column's type needs it, instead of
    SQLAlchemy building and processing a parameter dictionary for every row."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    sql, plan = _driver_insert(dialect, table, tuple(rows[0]), tuple(skip_conflicts_on))
    values = list(map(itemgetter(*(name for name, _ in plan)), rows))
    if len(plan) == 1:
        values = [(value,) for value in values]
    processed = [(index, p) for index, (_, p) in enumerate(plan) if p is not None]
    if processed:
        columns = list(zip(*values, strict=True))
        for index, processor in processed:
            columns[index] = tuple(map(processor, columns[index]))
        values = list(zip(*columns, strict=True))
    result = session.connection().exec_driver_sql(sql, values)
    return int(result.rowcount or 0)

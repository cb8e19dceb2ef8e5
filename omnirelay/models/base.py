"""Declarative base, naming convention and the portable column types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

# Table options of every table whose ids other rows (deliveries, the audit) refer to: on
# SQLite an id is then never given again once its row is deleted (AUTOINCREMENT; without it
# SQLite reuses the highest id after a delete, and a retrying delivery of a deleted
# credential would find the next credential under its id). PostgreSQL sequences and
# MySQL/MariaDB auto-increment counters never go back.
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere.

    PostgreSQL stores ``timestamptz``; SQLite and MySQL store naive UTC, and values read
    back are marked UTC again, so the application never sees a naive datetime.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; omnirelay stores aware UTC only")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite's generic DATETIME processor builds a dict per value; on the hot paths
        # one isoformat call writes the same "YYYY-MM-DD HH:MM:SS.ffffff" text, and a bulk
        # statement's rows share a few timestamps ("now", a lease end), formatted once each.
        recent: dict[datetime, str] = {}

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            text = recent.get(value)
            if text is None:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given; omnirelay stores aware UTC only")
                text = value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]
                if len(recent) >= 64:
                    recent.clear()
                recent[value] = text
            return text

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite keeps ISO 8601 text: one C call parses it (rows are read a thousand at a
        # time on the worker's hot path), and an offset written by another system is kept.
        parse = datetime.fromisoformat

        def process(value: str | datetime | None) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                try:  # the form this type writes, naive UTC: parsed aware in the same call
                    return parse(value + "+00:00")
                except ValueError:  # another form (an offset, a "T", a date alone)
                    parsed = parse(value)
            else:
                parsed = value
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """JSON kept in a TEXT column: portable, and writable as a plain string by other systems."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return orjson.dumps(value).decode()

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or value == "":
            return None
        return orjson.loads(value)


class utc_timestamp_default(FunctionElement[datetime]):
    """Server default "now": CURRENT_TIMESTAMP, with microseconds on MySQL/MariaDB."""

    type = DateTime()
    inherit_cache = True


@compiles(utc_timestamp_default)
def _compile_now_default(element: Any, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utc_timestamp_default, "mysql")
@compiles(utc_timestamp_default, "mariadb")
def _compile_now_default_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP(6)"


def CaseSensitiveString(length: int) -> Any:
    """VARCHAR compared byte for byte everywhere: MySQL's default collation would make
    order ids 'AB1' and 'ab1' (or codes 'Bosley' and 'bosley') the same key."""
    from sqlalchemy import String
    from sqlalchemy.dialects import mysql

    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=utc_timestamp_default(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        server_default=utc_timestamp_default(),
        default=utcnow,
        onupdate=utcnow,
    )

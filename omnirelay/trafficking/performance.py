"""What a campaign earned: the relayed events whose ``utm_campaign`` is one of its taxonomy
names (its own, and its tickets' names per channel) or whose ``utm_id`` is its id, counted
and summed by day, event type and currency, all in one GROUP BY of the database.

The values live in ``marketing_events.event_payload``, JSON kept as text (the OMS may write
it itself). Each dialect reads a JSON field its own way, and a row whose text is not JSON
reads as no value rather than failing the query: ``json_valid`` on SQLite and MariaDB, a
guarded cast (``omnirelay_jsonb_or_null``, created by the migration) on PostgreSQL.
Revenue is ``order_revenue`` (the OMS's) or ``value``, a JSON number or a numeric string;
the day is the UTC date of the event time (of its arrival when the row has none).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, String, and_, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from omnirelay.models import EventStatus, MarketingEvent

_NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"


class json_text(FunctionElement[str]):
    """The string at a top-level key of a JSON text column (NULL when absent or invalid)."""

    type = String()
    inherit_cache = True


class json_number(FunctionElement[float]):
    """The number (or numeric string) at a top-level key of a JSON text column."""

    type = Float()
    inherit_cache = True


class utc_day(FunctionElement[str]):
    type = String()
    inherit_cache = True


def _args(element: Any, compiler: Any, **kw: Any) -> tuple[str, str]:
    column, key = list(element.clauses)
    return compiler.process(column, **kw), key.value


@compiles(json_text, "sqlite")
def _sqlite_text(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    return (
        f"CASE WHEN json_valid({column}) AND json_type({column}, '$.\"{key}\"') = 'text' "
        f"THEN json_extract({column}, '$.\"{key}\"') END"
    )


@compiles(json_number, "sqlite")
def _sqlite_number(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    value = f"json_extract({column}, '$.\"{key}\"')"
    kind = f"json_type({column}, '$.\"{key}\"')"
    return (
        f"CASE WHEN NOT json_valid({column}) THEN NULL "
        f"WHEN {kind} IN ('integer', 'real') THEN {value} "
        f"WHEN {kind} = 'text' AND trim({value}) <> '' "
        f"AND trim({value}) NOT GLOB '*[^0-9.eE+-]*' THEN CAST(trim({value}) AS REAL) END"
    )


@compiles(json_text, "postgresql")
def _pg_text(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    document = f"omnirelay_jsonb_or_null({column})"
    return (
        f"CASE WHEN jsonb_typeof({document} -> '{key}') = 'string' THEN {document} ->> '{key}' END"
    )


@compiles(json_number, "postgresql")
def _pg_number(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    document = f"omnirelay_jsonb_or_null({column})"
    value = f"({document} ->> '{key}')"
    return (
        f"CASE jsonb_typeof({document} -> '{key}') "
        f"WHEN 'number' THEN {value}::float8 "
        f"WHEN 'string' THEN CASE WHEN {value} ~ '{_NUMBER}' THEN trim({value})::float8 END END"
    )


@compiles(json_text, "mysql")
@compiles(json_text, "mariadb")
def _mysql_text(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    path = f"'$.\"{key}\"'"
    # compared byte for byte: the column's collation would make 'Sale' and 'SALE' equal
    return (
        f"CASE WHEN JSON_VALID({column}) AND JSON_TYPE(JSON_EXTRACT({column}, {path})) = 'STRING' "
        f"THEN CONVERT(JSON_UNQUOTE(JSON_EXTRACT({column}, {path})) USING utf8mb4) "
        f"COLLATE utf8mb4_bin END"
    )


@compiles(json_number, "mysql")
@compiles(json_number, "mariadb")
def _mysql_number(element: Any, compiler: Any, **kw: Any) -> str:
    column, key = _args(element, compiler, **kw)
    path = f"'$.\"{key}\"'"
    value = f"JSON_UNQUOTE(JSON_EXTRACT({column}, {path}))"
    kind = f"JSON_TYPE(JSON_EXTRACT({column}, {path}))"
    pattern = _NUMBER.replace("\\s", "[[:space:]]").replace("\\", "\\\\")
    return (
        f"CASE WHEN NOT JSON_VALID({column}) THEN NULL "
        f"WHEN {kind} IN ('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER') "
        f"THEN CAST({value} AS DOUBLE) "
        f"WHEN {kind} = 'STRING' AND {value} REGEXP '{pattern}' THEN CAST(TRIM({value}) AS DOUBLE) "
        f"END"
    )


@compiles(utc_day, "sqlite")
def _sqlite_day(element: Any, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _pg_day(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_day, "mysql")
@compiles(utc_day, "mariadb")
def _mysql_day(element: Any, compiler: Any, **kw: Any) -> str:
    # stored as naive UTC (the connection's time zone is UTC)
    return f"DATE({compiler.process(element.clauses, **kw)})"


def _key(name: str) -> Any:
    return literal(name, literal_execute=True)


def performance_query(
    names: Sequence[str],
    campaign_id: uuid.UUID,
    *,
    case_sensitive: bool,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    payload = MarketingEvent.event_payload
    utm_campaign: ColumnElement[Any] = json_text(payload, _key("utm_campaign"))
    utm_id: ColumnElement[Any] = json_text(payload, _key("utm_id"))
    if case_sensitive:
        by_name = utm_campaign.in_(list(names))
    else:
        by_name = func.lower(utm_campaign).in_([n.lower() for n in names])
    when = func.coalesce(MarketingEvent.event_time, MarketingEvent.received_at)
    day = utc_day(when).label("day")
    currency = func.upper(json_text(payload, _key("currency"))).label("currency")
    revenue = func.coalesce(
        json_number(payload, _key("order_revenue")), json_number(payload, _key("value"))
    )
    conditions = [
        or_(by_name, func.lower(utm_id) == str(campaign_id).lower()),
        MarketingEvent.status != EventStatus.DUPLICATE.value,
    ]
    if since is not None:
        conditions.append(when >= since)
    if until is not None:
        conditions.append(when < until)
    return (
        select(
            day,
            MarketingEvent.event_type,
            currency,
            func.count().label("conversions"),
            func.coalesce(func.sum(revenue), 0.0).label("revenue"),
        )
        .where(and_(*conditions))
        .group_by(day, MarketingEvent.event_type, currency)
        .order_by(day, MarketingEvent.event_type, currency)
    )

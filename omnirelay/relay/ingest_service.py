"""Ingestion path 1: judge each item of an OMS batch on its own, then write the accepted
rows with bulk statements in the caller's transaction (duplicates skipped by the database)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.config import DEFAULT_FUTURE_TOLERANCE_SECONDS
from omnirelay.db import insert_skip_duplicates
from omnirelay.input_types import (
    DB_INT_MAX,
    DB_INT_MIN,
    MAX_JSON_DEPTH,
    NUL_REASON,
    TOO_DEEP,
    json_problem,
)
from omnirelay.models import EventStatus, MarketingEvent, Storefront, table_of
from omnirelay.relay.ingest_schemas import (
    DuplicateInBatch,
    EventItem,
    IngestResult,
    RejectedItem,
)

SOURCE_API = "oms"
_PENDING = EventStatus.PENDING.value
_USER_ID_FIELDS = ("user_id", "customer_id", "external_id")
_DEDUP_COLUMNS = ("storefront_id", "event_type", "event_id")
MARKETING_EVENTS = table_of(MarketingEvent)


def _first_error(exc: ValidationError) -> tuple[str | None, str]:
    error = exc.errors(include_url=False, include_context=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "missing":
        return field, "required field is missing"
    return field, error["msg"]


def _user_id(item: dict[str, Any]) -> tuple[str, str] | None:
    """The field the user id is taken from, and the id."""
    for key in _USER_ID_FIELDS:
        value = item.get(key)
        if value is not None and str(value).strip():
            return key, str(value).strip()[:255]
    return None


@dataclass
class JudgedBatch:
    """Items checked one by one, before any transaction: rows ready to insert (storefront
    still given by code) and the rejected items."""

    received: int
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)

    def restrict_to(self, storefronts: Collection[str]) -> None:
        """Reject the items for a storefront the caller may not post for."""
        allowed = []
        for index, row in self.rows:
            code = row["storefront_code"]
            if code in storefronts:
                allowed.append((index, row))
                continue
            self.rejected.append(
                RejectedItem(
                    index=index,
                    field="storefront_id",
                    reason=f"this key may not post events for storefront {code!r}",
                    order_id=row["event_id"],
                )
            )
        self.rows = allowed


def _payload_problem(payload: dict[str, Any]) -> tuple[str | None, str] | None:
    """Why ``payload`` cannot be stored and sent again, as (field, reason), or None."""
    problem = json_problem(payload)
    if problem is None:
        return None
    path, reason = problem
    if reason == TOO_DEEP:
        path = path[:1]
    return ".".join(str(part) for part in path) or None, reason


def judge_items(
    items: Sequence[Any],
    *,
    wide_numbers: bool = False,
    now: datetime | None = None,
    future_tolerance_seconds: float = DEFAULT_FUTURE_TOLERANCE_SECONDS,
) -> JudgedBatch:
    """``wide_numbers``: the items may hold integers beyond 64 bits and floats that are not
    finite (see ``ingest_json``); each such item is rejected, except for an integer order id,
    which is kept as its exact decimal string."""
    judged = JudgedBatch(received=len(items))
    now = now or datetime.now(UTC)
    latest = now + timedelta(seconds=future_tolerance_seconds)

    def reject(index: int, field_name: str | None, reason: str, order_id: Any = None) -> None:
        judged.rejected.append(
            RejectedItem(
                index=index,
                field=field_name,
                reason=reason,
                order_id=str(order_id) if order_id is not None else None,
            )
        )

    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            reject(index, None, "item must be an object")
            continue
        try:
            item = EventItem.model_validate(raw)
        except ValidationError as exc:
            field_name, reason = _first_error(exc)
            order_id = raw.get("order_id")
            # echoed when it is an id at all (not a nested value, a float or a boolean)
            shown = order_id if type(order_id) is str or type(order_id) is int else None
            reject(index, field_name, reason, shown)
            continue
        event_time = item.event_time
        if event_time > latest:
            reject(
                index,
                "event_time",
                f"is {_ahead(event_time - now)} in the future; at most"
                f" {future_tolerance_seconds:g} s ahead of omnirelay's clock is accepted"
                " (EVENT_TIME_FUTURE_TOLERANCE_SECONDS)",
                item.order_id,
            )
            continue
        payload = raw
        if type(raw["order_id"]) is int and not DB_INT_MIN <= raw["order_id"] <= DB_INT_MAX:
            # beyond 64 bits a reader downstream may round it: the exact decimal string
            payload = raw | {"order_id": item.order_id}
        try:
            text: bytes | None = orjson.dumps(payload)
        except orjson.JSONEncodeError:
            text = None
        # Walked only when there can be something to find: numbers orjson does not hold were
        # read, or the text has more brackets than the nesting allowed (or none it can write).
        problem = None
        if wide_numbers or text is None or text.count(b"{") + text.count(b"[") > MAX_JSON_DEPTH:
            problem = _payload_problem(payload)
        if problem is not None or text is None:
            field_name, reason = problem or (None, "cannot be written as JSON")
            reject(index, field_name, reason, item.order_id)
            continue
        user = _user_id(raw)
        if user is not None and "\x00" in user[1]:
            reject(index, user[0], NUL_REASON, item.order_id)
            continue
        judged.rows.append(
            (
                index,
                {
                    "event_id": item.order_id,
                    "storefront_code": item.storefront_id,
                    "event_type": item.event_name.strip().lower(),
                    "event_payload": text.decode(),
                    "source_system": SOURCE_API,
                    "status": _PENDING,
                    "user_id": user[1] if user is not None else None,
                    "event_time": event_time,
                },
            )
        )
    return judged


def _ahead(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


async def store_batch(session: AsyncSession, judged: JudgedBatch) -> IngestResult:
    """Resolve storefront codes and insert the rows with one bulk statement."""
    rejected = list(judged.rejected)
    codes = {row["storefront_code"] for _, row in judged.rows}
    storefront_ids: dict[str, int] = {}
    if codes:
        result = await session.execute(
            select(Storefront.code, Storefront.id).where(Storefront.code.in_(codes))
        )
        storefront_ids = dict(result.all())
    rows: list[dict[str, Any]] = []
    first_of: dict[tuple[int, str, str], int] = {}  # the unique key of marketing_events
    in_batch: list[DuplicateInBatch] = []
    for index, row in judged.rows:
        storefront_id = storefront_ids.get(row["storefront_code"])
        if storefront_id is None:
            rejected.append(
                RejectedItem(
                    index=index,
                    field="storefront_id",
                    reason=f"unknown storefront {row['storefront_code']!r}",
                    order_id=row["event_id"],
                )
            )
            continue
        key = (storefront_id, row["event_type"], row["event_id"])
        first = first_of.setdefault(key, index)
        if first != index:
            in_batch.append(
                DuplicateInBatch(index=index, duplicate_of=first, order_id=row["event_id"])
            )
            continue
        row["storefront_id"] = storefront_id
        rows.append(row)
    inserted = await insert_skip_duplicates(session, MARKETING_EVENTS, rows, _DEDUP_COLUMNS)
    rejected.sort(key=lambda r: r.index)
    return IngestResult(
        received=judged.received,
        accepted=inserted,
        duplicates=len(rows) - inserted + len(in_batch),
        rejected=rejected,
        duplicates_in_batch=in_batch,
    )

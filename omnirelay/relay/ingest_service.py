"""Ingestion path 1: judge each item of an OMS batch on its own, then write the accepted
rows with bulk statements in the caller's transaction (duplicates skipped by the database)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import insert_skip_duplicates
from omnirelay.models import EventStatus, MarketingEvent, Storefront, table_of
from omnirelay.relay.ingest_schemas import EventItem, IngestResult, RejectedItem

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


def _user_id(item: dict[str, Any]) -> str | None:
    for key in _USER_ID_FIELDS:
        value = item.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()[:255]
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


def judge_items(items: Sequence[Any]) -> JudgedBatch:
    judged = JudgedBatch(received=len(items))
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            judged.rejected.append(
                RejectedItem(index=index, field=None, reason="item must be an object")
            )
            continue
        try:
            item = EventItem.model_validate(raw)
        except ValidationError as exc:
            field_name, reason = _first_error(exc)
            order_id = raw.get("order_id")
            judged.rejected.append(
                RejectedItem(
                    index=index,
                    field=field_name,
                    reason=reason,
                    order_id=str(order_id) if order_id is not None else None,
                )
            )
            continue
        event_time = item.event_time
        judged.rows.append(
            (
                index,
                {
                    "event_id": item.order_id,
                    "storefront_code": item.storefront_id,
                    "event_type": item.event_name.strip().lower(),
                    "event_payload": orjson.dumps(raw).decode(),
                    "source_system": SOURCE_API,
                    "status": _PENDING,
                    "user_id": _user_id(raw),
                    # without an offset the OMS's timestamps are UTC
                    "event_time": event_time
                    if event_time.tzinfo
                    else event_time.replace(tzinfo=UTC),
                },
            )
        )
    return judged


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
        row["storefront_id"] = storefront_id
        rows.append(row)
    inserted = await insert_skip_duplicates(session, MARKETING_EVENTS, rows, _DEDUP_COLUMNS)
    rejected.sort(key=lambda r: r.index)
    return IngestResult(
        received=judged.received,
        accepted=inserted,
        duplicates=len(rows) - inserted,
        rejected=rejected,
    )

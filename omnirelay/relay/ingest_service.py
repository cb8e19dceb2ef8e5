"""Ingestion path 1: judge each item of an OMS batch on its own, then write the accepted
rows with bulk statements in the caller's transaction (duplicates skipped by the database)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import insert_skip_duplicates
from omnirelay.models import EventStatus, MarketingEvent, Storefront
from omnirelay.models.base import utcnow
from omnirelay.relay.ingest_schemas import EventItem, IngestResult, RejectedItem

SOURCE_API = "oms"
_USER_ID_FIELDS = ("user_id", "customer_id", "external_id")
_DEDUP_COLUMNS = ("storefront_id", "event_type", "event_id")
MARKETING_EVENTS: Table = MarketingEvent.__table__  # type: ignore[assignment]


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


async def ingest_batch(session: AsyncSession, items: Sequence[Any]) -> IngestResult:
    rejected: list[RejectedItem] = []
    valid: list[tuple[int, dict[str, Any], EventItem]] = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            rejected.append(RejectedItem(index=index, field=None, reason="item must be an object"))
            continue
        try:
            valid.append((index, raw, EventItem.model_validate(raw)))
        except ValidationError as exc:
            field, reason = _first_error(exc)
            order_id = raw.get("order_id")
            rejected.append(
                RejectedItem(
                    index=index,
                    field=field,
                    reason=reason,
                    order_id=str(order_id) if order_id is not None else None,
                )
            )

    codes = {item.storefront_id for _, _, item in valid}
    storefront_ids: dict[str, int] = {}
    if codes:
        result = await session.execute(
            select(Storefront.code, Storefront.id).where(Storefront.code.in_(codes))
        )
        storefront_ids = dict(result.all())

    now = utcnow()
    rows: list[dict[str, Any]] = []
    for index, raw, item in valid:
        storefront_id = storefront_ids.get(item.storefront_id)
        if storefront_id is None:
            rejected.append(
                RejectedItem(
                    index=index,
                    field="storefront_id",
                    reason=f"unknown storefront {item.storefront_id!r}",
                    order_id=item.order_id,
                )
            )
            continue
        rows.append(
            {
                "event_id": item.order_id,
                "storefront_id": storefront_id,
                "storefront_code": item.storefront_id,
                "event_type": item.event_name.strip().lower(),
                "event_payload": orjson.dumps(raw).decode(),
                "source_system": SOURCE_API,
                "status": EventStatus.PENDING.value,
                "user_id": _user_id(raw),
                "event_time": item.event_time,
                "received_at": now,
                "updated_at": now,
            }
        )

    inserted = await insert_skip_duplicates(session, MARKETING_EVENTS, rows, _DEDUP_COLUMNS)
    rejected.sort(key=lambda r: r.index)
    return IngestResult(
        received=len(items), accepted=inserted, duplicates=len(rows) - inserted, rejected=rejected
    )

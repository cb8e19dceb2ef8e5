"""Reading events with their deliveries and attempts, and replaying deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.crud import paginate
from omnirelay.delivery.subjects import refresh_event_status
from omnirelay.errors import InvalidInput, NotFound
from omnirelay.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryRequest,
    DeliveryStatus,
    MarketingEvent,
)
from omnirelay.models.base import utcnow
from omnirelay.relay import events_schemas as s
from omnirelay.storefronts.service import get_storefront

REPLAYABLE = {DeliveryStatus.DEAD.value, DeliveryStatus.SKIPPED.value, DeliveryStatus.PENDING.value}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def list_events(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    storefront: str | None,
    status: str | None,
    event_type: str | None,
    event_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[MarketingEvent], int]:
    statement = select(MarketingEvent).order_by(MarketingEvent.id.desc())
    if storefront is not None:
        statement = statement.where(
            MarketingEvent.storefront_id == (await get_storefront(session, storefront)).id
        )
    if status:
        statement = statement.where(MarketingEvent.status == status)
    if event_type:
        statement = statement.where(MarketingEvent.event_type == event_type.lower())
    if event_id:
        statement = statement.where(MarketingEvent.event_id == event_id)
    if since:
        statement = statement.where(MarketingEvent.received_at >= _aware(since))
    if until:
        statement = statement.where(MarketingEvent.received_at < _aware(until))
    return await paginate(session, statement, limit, offset)


def _json_or_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


async def event_detail(session: AsyncSession, event_pk: int) -> s.EventDetail:
    event = await session.get(MarketingEvent, event_pk)
    if event is None:
        raise NotFound(f"event {event_pk} does not exist")
    deliveries = (
        await session.execute(
            select(Delivery).where(Delivery.event_id == event.id).order_by(Delivery.id)
        )
    ).scalars()
    attempt_rows = await session.execute(
        select(DeliveryAttempt, DeliveryRequest)
        .outerjoin(DeliveryRequest, DeliveryRequest.id == DeliveryAttempt.request_id)
        .where(DeliveryAttempt.event_id == event.id)
        .order_by(DeliveryAttempt.id)
    )
    attempts = []
    for attempt, request in attempt_rows:
        out = s.AttemptOut.model_validate(attempt)
        if request is not None:
            out.request_url = request.url
            out.request_body = _json_or_text(request.request_body)
            out.response_body = request.response_body
        attempts.append(out)
    summary = s.EventSummary.model_validate(event)
    return s.EventDetail(
        **summary.model_dump(),
        event_payload=_json_or_text(event.event_payload),
        deliveries=[s.DeliveryOut.model_validate(d) for d in deliveries],
        attempts=attempts,
    )


async def replay_deliveries(session: AsyncSession, request: s.ReplayRequest) -> s.ReplayResult:
    """Put matching deliveries back in the queue with a fresh attempt budget; their
    attempt numbers go on from where they were."""
    unknown = set(request.statuses) - REPLAYABLE
    if unknown:
        raise InvalidInput(
            [
                {
                    "field": "statuses",
                    "reason": f"cannot replay {sorted(unknown)}; choose from {sorted(REPLAYABLE)}",
                }
            ]
        )
    statement = select(Delivery).where(Delivery.status.in_(request.statuses))
    if request.delivery_ids:
        statement = statement.where(Delivery.id.in_(request.delivery_ids))
    if request.event_ids:
        statement = statement.where(Delivery.event_id.in_(request.event_ids))
    if request.storefront_id is not None:
        storefront = await get_storefront(session, request.storefront_id)
        statement = statement.where(Delivery.storefront_id == storefront.id)
    if request.destination:
        statement = statement.where(Delivery.destination_code == request.destination)
    if request.since:
        statement = statement.where(Delivery.updated_at >= _aware(request.since))
    if request.until:
        statement = statement.where(Delivery.updated_at < _aware(request.until))
    deliveries = list(
        (await session.execute(statement.order_by(Delivery.id).limit(request.limit))).scalars()
    )
    if not deliveries:
        return s.ReplayResult(replayed=0, delivery_ids=[])
    now = utcnow()
    ids = [d.id for d in deliveries]
    for start in range(0, len(ids), 1000):
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[start : start + 1000]))
            .values(
                status=DeliveryStatus.PENDING.value,
                attempt_base=Delivery.attempt_count,  # a fresh budget; numbering goes on
                next_attempt_at=now,
                claimed_by=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        insert(DeliveryAttempt),
        [
            {
                "event_id": d.event_id,
                "delivery_id": d.id,
                "destination_type": d.destination_type,
                "destination_code": d.destination_code,
                "attempt_number": d.attempt_count,
                "status": "replayed",
                "error": f"replayed from {d.status}",
                "attempted_at": now,
            }
            for d in deliveries
        ],
    )
    events = {d.event_id for d in deliveries if d.event_id is not None}
    await session.run_sync(refresh_event_status, events, now)
    return s.ReplayResult(replayed=len(ids), delivery_ids=ids)

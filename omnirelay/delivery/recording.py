"""Writing the outcome of a batch: the audit rows, the delivery states, the event summary."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import bulk_insert, id_in
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.destinations.base import Outcome
from omnirelay.metrics import Metrics
from omnirelay.models import (
    DeliveryRequest,
    DeliveryStatus,
    EventAttempt,
    EventDelivery,
    EventStatus,
    MarketingEvent,
    table_of,
)
from omnirelay.security import MASK

if TYPE_CHECKING:
    from omnirelay.delivery.engine import BatchReport, SentRequest

RESPONSE_LIMIT = 4096  # characters of a response body kept in the audit


def scrub(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def _request_row(sent: SentRequest) -> DeliveryRequest:
    code, request = sent.destination_code, sent.request
    body = sent.body.decode("utf-8", "replace") if sent.body is not None else None
    response = sent.result.body[:RESPONSE_LIMIT] if sent.result.body else None
    return DeliveryRequest(
        destination_code=code,
        method=request.method,
        url=scrub(request.url, request.secrets) or "",
        request_body=scrub(body, request.secrets),
        event_count=len(request.delivery_ids),
        http_status=sent.result.status_code,
        response_body=scrub(response, request.secrets),
        error=scrub(sent.result.error, request.secrets),
        duration_ms=sent.duration_ms,
    )


def summarize(statuses: Counter[str]) -> EventStatus:
    """An event's status from its deliveries' states."""
    if statuses[DeliveryStatus.PENDING] or statuses[DeliveryStatus.IN_FLIGHT]:
        return EventStatus.QUEUED
    delivered, dead = statuses[DeliveryStatus.DELIVERED], statuses[DeliveryStatus.DEAD]
    if dead and delivered:
        return EventStatus.PARTIAL
    if dead:
        return EventStatus.FAILED
    if delivered:
        return EventStatus.DELIVERED
    return EventStatus.SKIPPED


async def refresh_event_status(
    session: AsyncSession,
    event_ids: set[int],
    now: datetime,
    known: Mapping[int, Counter[str]] | None = None,
) -> None:
    """Sum each event's deliveries up into its status; one UPDATE per resulting status.
    ``known`` holds the delivery states of events whose deliveries are all at hand (just
    routed and sent in one batch): those need no query."""
    if not event_ids:
        return
    counts: dict[int, Counter[str]] = dict(known or {})
    unknown = event_ids - counts.keys()
    for event_id in unknown:
        counts[event_id] = Counter()
    if unknown:
        rows = await session.execute(
            select(EventDelivery.event_id, EventDelivery.status, func.count())
            .where(id_in(session, EventDelivery.event_id, unknown))
            .group_by(EventDelivery.event_id, EventDelivery.status)
        )
        for event_id, status, count in rows:
            counts[event_id][status] = count
    by_status: dict[EventStatus, list[int]] = defaultdict(list)
    for event_id in event_ids:
        by_status[summarize(counts[event_id])].append(event_id)
    for status, ids in by_status.items():
        await update_in_chunks(
            session,
            table_of(MarketingEvent),
            ids,
            {
                "status": status.value,
                "updated_at": now,
                "processed_at": None if status == EventStatus.QUEUED else now,
            },
        )


async def update_in_chunks(
    session: AsyncSession, table: Any, ids: list[int], values: dict[str, Any], chunk: int = 1000
) -> None:
    """``UPDATE table SET values WHERE id IN (ids)``, a thousand ids per statement."""
    for start in range(0, len(ids), chunk):
        await session.execute(
            update(table)
            .where(id_in(session, table.c.id, ids[start : start + chunk]))
            .values(values)
        )


class _Changes:
    """Delivery state changes, grouped so that rows sharing the same new values are
    written by one ``UPDATE ... WHERE id IN (...)`` (a batch of successes is one statement)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
        self.status: dict[int, str] = {}  # delivery id -> its new status
        self._last_values: dict[str, Any] | None = None
        self._last_key: tuple[tuple[str, Any], ...] = ()

    def add(self, delivery_id: int, values: dict[str, Any]) -> None:
        if values is not self._last_values:  # a batch's successes share one values dict
            self._last_values, self._last_key = values, tuple(sorted(values.items()))
        self.groups[self._last_key].append(delivery_id)
        self.status[delivery_id] = values["status"]

    async def write(self, session: AsyncSession) -> None:
        table = table_of(EventDelivery)
        for key, ids in self.groups.items():
            values: dict[str, Any] = dict(key)
            if values.pop("count_attempt", False):
                values["attempt_count"] = table.c.attempt_count + 1
            await update_in_chunks(session, table, ids, values)


async def record_batch(
    session: AsyncSession,
    deliveries: dict[int, ClaimedDelivery],
    report: BatchReport,
    now: datetime,
    *,
    next_attempt: Callable[[int, float | None], datetime],
    max_attempts: int,
    metrics: Metrics,
    complete_events: Collection[int] = (),
) -> None:
    """Write what happened to a batch. ``complete_events``: events all of whose deliveries
    are in this batch, so their new status follows from it without a query."""
    attempts: list[dict[str, Any]] = []
    changes = _Changes()
    counted: Counter[tuple[str, str]] = Counter()
    released = {"claimed_by": None, "lease_expires_at": None, "updated_at": now}
    delivered: dict[tuple[str | None, int | None], dict[str, Any]] = {}

    def attempt_row(
        delivery: ClaimedDelivery, number: int, status: str, error: str | None, **extra: Any
    ) -> None:
        attempts.append(
            {
                "event_id": delivery.event_id,
                "delivery_id": delivery.id,
                "destination_type": delivery.destination_type,
                "destination_code": delivery.destination_code,
                "attempt_number": number,
                "status": status,
                "error": error,
                "attempted_at": now,
                "http_status": extra.get("http_status"),
                "duration_ms": extra.get("duration_ms"),
                "warnings": extra.get("warnings"),
                "request_id": extra.get("request_id"),
            }
        )

    def apply(
        delivery: ClaimedDelivery,
        outcome: str,
        error: str | None,
        retry_after: float | None,
        http_status: int | None,
    ) -> None:
        number = delivery.attempt_count + 1
        if outcome == Outcome.DELIVERED:  # the same values for every success alike
            values = delivered.get((error, http_status))
            if values is None:
                values = delivered[(error, http_status)] = released | {
                    "count_attempt": True,
                    "last_error": error,
                    "last_http_status": http_status,
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": now,
                    "next_attempt_at": now,
                }
            changes.add(delivery.id, values)
            counted[(delivery.destination_code, DeliveryStatus.DELIVERED.value)] += 1
            return
        values = released | {
            "count_attempt": True,
            "last_error": error,
            "last_http_status": http_status,
        }
        if outcome == Outcome.RETRY and number < max_attempts:
            values |= {
                "status": DeliveryStatus.PENDING.value,
                "next_attempt_at": next_attempt(number, retry_after),
            }
        else:
            if outcome == Outcome.RETRY:
                values["last_error"] = f"gave up after {number} attempts: {error}"
            values |= {"status": DeliveryStatus.DEAD.value, "next_attempt_at": now}
        changes.add(delivery.id, values)
        counted[(delivery.destination_code, values["status"])] += 1

    request_rows = [_request_row(sent) for sent in report.sent]
    session.add_all(request_rows)
    await session.flush()  # one multi-row INSERT for every request of the batch
    for sent, row in zip(report.sent, request_rows, strict=True):
        warnings = sent.request.warnings
        for outcome in sent.outcomes:
            delivery = deliveries.get(outcome.delivery_id)
            if delivery is None:
                continue
            error = scrub(outcome.error, sent.request.secrets)
            if outcome.outcome != Outcome.SPLIT:  # a split's verdict comes from its halves
                apply(
                    delivery, outcome.outcome, error, outcome.retry_after, sent.result.status_code
                )
            attempt_row(
                delivery,
                delivery.attempt_count + 1,
                outcome.outcome.value,
                error,
                http_status=sent.result.status_code,
                duration_ms=sent.duration_ms,
                warnings="; ".join(warnings.get(delivery.id, [])) or None,
                request_id=row.id,
            )

    for delivery_id, (verdict, error) in report.decided.items():
        delivery = deliveries[delivery_id]
        if verdict == "skipped":
            changes.add(
                delivery_id,
                released
                | {
                    "status": DeliveryStatus.SKIPPED.value,
                    "last_error": error,
                    "next_attempt_at": now,
                },
            )
            attempt_row(delivery, delivery.attempt_count, "skipped", error)
            counted[(delivery.destination_code, "skipped")] += 1
        else:
            apply(delivery, verdict, error, None, None)
            attempt_row(delivery, delivery.attempt_count + 1, verdict, error)

    for delivery_id in report.released:
        changes.add(
            delivery_id, released | {"status": DeliveryStatus.PENDING.value, "next_attempt_at": now}
        )

    await bulk_insert(session, table_of(EventAttempt), attempts)
    await changes.write(session)
    known: dict[int, Counter[str]] = {event_id: Counter() for event_id in complete_events}
    for delivery in deliveries.values():
        if delivery.event_id in known:
            known[delivery.event_id][changes.status.get(delivery.id, "in_flight")] += 1
    await refresh_event_status(session, {d.event_id for d in deliveries.values()}, now, known)
    for (destination, status), count in counted.items():
        metrics.deliveries.labels(destination, status).inc(count)

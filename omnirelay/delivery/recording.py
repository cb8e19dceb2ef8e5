"""Writing the outcome of a batch: the audit rows, the delivery states, the event summary."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnirelay.db import bulk_insert, id_in
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.destinations.base import DeliveryOutcome, Outcome
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


# Each delivery state as a bit: an event's summary depends only on which states its
# deliveries are in, so a batch ORs one small int per event instead of counting.
_STATE_BITS = {
    DeliveryStatus.PENDING.value: 1,
    DeliveryStatus.IN_FLIGHT.value: 2,
    DeliveryStatus.DELIVERED.value: 4,
    DeliveryStatus.DEAD.value: 8,
    DeliveryStatus.SKIPPED.value: 16,
}


def summarize(states: int) -> EventStatus:
    """An event's status from the states of its deliveries (``_STATE_BITS`` ORed)."""
    if states & 3:
        return EventStatus.QUEUED
    delivered, dead = states & 4, states & 8
    if dead and delivered:
        return EventStatus.PARTIAL
    if dead:
        return EventStatus.FAILED
    if delivered:
        return EventStatus.DELIVERED
    return EventStatus.SKIPPED


def refresh_event_status(
    session: Session,
    event_ids: set[int],
    now: datetime,
    known: Mapping[int, int] | None = None,
) -> None:
    """Sum each event's deliveries up into its status; one UPDATE per resulting status.
    ``known`` holds the delivery states (bits) of events whose deliveries are all at hand
    (just routed and sent in one batch): those need no query."""
    if not event_ids:
        return
    states: dict[int, int] = dict(known or {})
    unknown = event_ids - states.keys()
    if unknown:
        rows = session.execute(
            select(EventDelivery.event_id, EventDelivery.status)
            .where(id_in(session, EventDelivery.event_id, unknown))
            .group_by(EventDelivery.event_id, EventDelivery.status)
        )
        for event_id, status in rows:
            states[event_id] = states.get(event_id, 0) | _STATE_BITS.get(status, 0)
    by_status: dict[EventStatus, list[int]] = defaultdict(list)
    for event_id in event_ids:
        by_status[summarize(states.get(event_id, 0))].append(event_id)
    for status, ids in by_status.items():
        update_in_chunks(
            session,
            table_of(MarketingEvent),
            ids,
            {
                "status": status.value,
                "updated_at": now,
                "processed_at": None if status == EventStatus.QUEUED else now,
            },
        )


def update_in_chunks(
    session: Session, table: Any, ids: list[int], values: dict[str, Any], chunk: int = 1000
) -> None:
    """``UPDATE table SET values WHERE id IN (ids)``, a thousand ids per statement."""
    for start in range(0, len(ids), chunk):
        session.execute(
            update(table)
            .where(id_in(session, table.c.id, ids[start : start + chunk]))
            .values(values)
        )


class _Book:
    """What a batch's outcome writes, kept grouped: deliveries that share their new
    values are updated by one ``UPDATE ... WHERE id IN (...)`` (a batch of successes is
    one statement), and attempt rows share everything but the delivery's own columns."""

    def __init__(
        self,
        now: datetime,
        next_attempt: Callable[[int, float | None], datetime],
        max_attempts: int,
    ) -> None:
        self.now = now
        self.next_attempt = next_attempt
        self.max_attempts = max_attempts
        self.changes: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
        self.state: dict[int, str] = {}  # delivery id -> its new status
        self.attempts: list[dict[str, Any]] = []
        self.counted: Counter[tuple[str, str]] = Counter()
        self.released = {"claimed_by": None, "lease_expires_at": None, "updated_at": now}

    def change(self, members: list[ClaimedDelivery], values: dict[str, Any]) -> None:
        self.changes[tuple(sorted(values.items()))].extend(d.id for d in members)
        status = values["status"]
        for delivery in members:
            self.state[delivery.id] = status
            self.counted[(delivery.destination_code, status)] += 1

    def settle(
        self,
        members: list[ClaimedDelivery],
        outcome: str,
        error: str | None,
        retry_after: float | None,
        http_status: int | None,
    ) -> None:
        """The new state of deliveries that got the same verdict on an attempt. Those
        that failed together at the same attempt number wait the same (jittered) delay,
        so they go out again together, as one batch."""
        counted = self.released | {
            "count_attempt": True,
            "last_error": error,
            "last_http_status": http_status,
        }
        if outcome == Outcome.DELIVERED:
            self.change(
                members,
                counted
                | {
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": self.now,
                    "next_attempt_at": self.now,
                },
            )
            return
        by_number: dict[int, list[ClaimedDelivery]] = defaultdict(list)
        for delivery in members:
            by_number[delivery.attempt_count + 1].append(delivery)
        for number, group in by_number.items():
            if outcome == Outcome.RETRY and number < self.max_attempts:
                values = counted | {
                    "status": DeliveryStatus.PENDING.value,
                    "next_attempt_at": self.next_attempt(number, retry_after),
                }
            else:
                values = counted | {
                    "status": DeliveryStatus.DEAD.value,
                    "next_attempt_at": self.now,
                }
                if outcome == Outcome.RETRY:
                    values["last_error"] = f"gave up after {number} attempts: {error}"
            self.change(group, values)

    def attempted(
        self,
        members: list[ClaimedDelivery],
        status: str,
        error: str | None,
        *,
        counts: bool = True,
        warnings: Mapping[int, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        """Audit rows: one per delivery, numbered as its attempt (``counts``) or as the
        attempt it did not get (a delivery skipped before sending)."""
        shared = {
            "status": status,
            "error": error,
            "attempted_at": self.now,
            "http_status": extra.get("http_status"),
            "duration_ms": extra.get("duration_ms"),
            "request_id": extra.get("request_id"),
            "warnings": None,
        }
        offset = 1 if counts else 0
        for delivery in members:
            row = shared | {
                "event_id": delivery.event_id,
                "delivery_id": delivery.id,
                "destination_type": delivery.destination_type,
                "destination_code": delivery.destination_code,
                "attempt_number": delivery.attempt_count + offset,
            }
            if warnings and delivery.id in warnings:
                row["warnings"] = "; ".join(warnings[delivery.id]) or None
            self.attempts.append(row)

    def write(self, session: Session) -> None:
        bulk_insert(session, table_of(EventAttempt), self.attempts)
        table = table_of(EventDelivery)
        for key, ids in self.changes.items():
            values: dict[str, Any] = dict(key)
            if values.pop("count_attempt", False):
                values["attempt_count"] = table.c.attempt_count + 1
            update_in_chunks(session, table, ids, values)


def _same_verdicts(
    outcomes: list[DeliveryOutcome], deliveries: Mapping[int, ClaimedDelivery]
) -> dict[tuple[Outcome, str | None, float | None], list[ClaimedDelivery]]:
    """A request's outcomes grouped by verdict (usually one group: the whole request)."""
    groups: dict[tuple[Outcome, str | None, float | None], list[ClaimedDelivery]] = defaultdict(
        list
    )
    for outcome in outcomes:
        delivery = deliveries.get(outcome.delivery_id)
        if delivery is not None:
            groups[(outcome.outcome, outcome.error, outcome.retry_after)].append(delivery)
    return groups


def record_batch(
    session: Session,
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
    book = _Book(now, next_attempt, max_attempts)
    request_rows = [_request_row(sent) for sent in report.sent]
    session.add_all(request_rows)
    session.flush()  # one multi-row INSERT for every request of the batch
    for sent, row in zip(report.sent, request_rows, strict=True):
        secrets = sent.request.secrets
        status_code = sent.result.status_code
        verdicts = _same_verdicts(sent.outcomes, deliveries)
        for (outcome, raw_error, retry_after), members in verdicts.items():
            error = scrub(raw_error, secrets)
            if outcome != Outcome.SPLIT:  # a split's verdict comes from its halves
                book.settle(members, outcome, error, retry_after, status_code)
            book.attempted(
                members,
                outcome.value,
                error,
                warnings=sent.request.warnings,
                http_status=status_code,
                duration_ms=sent.duration_ms,
                request_id=row.id,
            )

    decided: dict[tuple[str, str | None], list[ClaimedDelivery]] = defaultdict(list)
    for delivery_id, decision in report.decided.items():
        decided[decision].append(deliveries[delivery_id])
    for (verdict, error), members in decided.items():
        if verdict == "skipped":
            book.change(
                members,
                book.released
                | {
                    "status": DeliveryStatus.SKIPPED.value,
                    "last_error": error,
                    "next_attempt_at": now,
                },
            )
            book.attempted(members, "skipped", error, counts=False)
        else:
            book.settle(members, verdict, error, None, None)
            book.attempted(members, verdict, error)

    if report.released:
        pending = book.released | {"status": DeliveryStatus.PENDING.value, "next_attempt_at": now}
        book.changes[tuple(sorted(pending.items()))].extend(report.released)

    book.write(session)
    known = dict.fromkeys(complete_events, 0)
    for delivery in deliveries.values():
        if delivery.event_id in known:
            state = book.state.get(delivery.id, DeliveryStatus.IN_FLIGHT.value)
            known[delivery.event_id] |= _STATE_BITS[state]
    refresh_event_status(session, {d.event_id for d in deliveries.values()}, now, known)
    for (destination, status), count in book.counted.items():
        metrics.deliveries.labels(destination, status).inc(count)

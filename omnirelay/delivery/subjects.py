"""An event's status sums up the deliveries about it.

Kinds whose subject is a stored event (the relay; messaging) settle with this: after a
batch's outcomes are written, each event's status follows from the states its deliveries
are in (queued while any is pending or in flight; then delivered, failed, partial or
skipped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnirelay.db import id_in, update_in_chunks
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.models import Delivery, DeliveryStatus, EventStatus, MarketingEvent, table_of

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
    *,
    routed_only: bool = False,
) -> None:
    """Sum each event's deliveries up into its status; one UPDATE per resulting status.
    ``known`` holds the delivery states (bits) of events whose deliveries are all at hand
    (just routed and sent in one batch): those need no query. With ``routed_only``, an
    event the dispatcher has not routed yet (or found a duplicate) keeps its status: a
    kind whose deliveries are made when the event is stored (a message decided by the
    API) can finish before the event is routed, and routing must still happen."""
    if not event_ids:
        return
    states: dict[int, int] = dict(known or {})
    unknown = event_ids - states.keys()
    if unknown:
        rows = session.execute(
            select(Delivery.event_id, Delivery.status)
            .where(id_in(session, Delivery.event_id, unknown))
            .group_by(Delivery.event_id, Delivery.status)
        )
        for event_id, status in rows:
            if event_id is not None:
                states[event_id] = states.get(event_id, 0) | _STATE_BITS.get(status, 0)
    by_status: dict[EventStatus, list[int]] = defaultdict(list)
    for event_id in event_ids:
        by_status[summarize(states.get(event_id, 0))].append(event_id)
    table = table_of(MarketingEvent)
    fence = (
        (table.c.status.not_in((EventStatus.PENDING.value, EventStatus.DUPLICATE.value)),)
        if routed_only
        else ()
    )
    for status, ids in by_status.items():
        update_in_chunks(
            session,
            table,
            ids,
            {
                "status": status.value,
                "updated_at": now,
                "processed_at": None if status == EventStatus.QUEUED else now,
            },
            1000,
            *fence,
        )


def settle_events(
    session: Session,
    deliveries: list[ClaimedDelivery],
    new_states: Mapping[int, str],
    now: datetime,
    complete: Collection[int] = (),
    *,
    routed_only: bool = False,
) -> None:
    """The events of ``deliveries`` after their outcomes (``new_states``, by delivery id;
    a delivery without one is still in flight). ``complete``: events all of whose
    deliveries are among these, so their status follows without a query."""
    events = {d.event_id for d in deliveries if d.event_id is not None}
    known = dict.fromkeys(complete, 0)
    for delivery in deliveries:
        if delivery.event_id in known:
            state = new_states.get(delivery.id, DeliveryStatus.IN_FLIGHT.value)
            known[delivery.event_id] |= _STATE_BITS[state]
    refresh_event_status(session, events, now, known, routed_only=routed_only)

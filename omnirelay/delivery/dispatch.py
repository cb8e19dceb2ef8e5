"""The dispatcher: stored ``pending`` events (from the API or a direct INSERT) become each
domain's work, in one transaction per batch.

Both ingestion paths end here, so a row the OMS inserted itself is treated exactly like
one the API accepted: its ``storefront_code`` is resolved and duplicates are recognised.
Then every domain (``Contributor``: the relay today, messaging next) adds its rows for
the events in the same transaction, so one event feeds every domain and none takes it
from another. An event is ``queued`` when some domain has work for it, else ``skipped``
with each domain's reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnirelay.db import update_in_chunks
from omnirelay.delivery.claim import ClaimedDelivery, Lease
from omnirelay.models import EventStatus, MarketingEvent, Storefront, table_of
from omnirelay.models.base import utcnow


@dataclass(slots=True)
class PendingEvent:
    id: int
    event_id: str
    storefront_id: int | None
    storefront_code: str | None
    event_type: str
    event_payload: str
    event_time: datetime | None
    received_at: datetime
    source_system: str
    user_id: str | None


@dataclass(slots=True)
class RoutedEvent:
    """A pending event resolved to its storefront, its payload parsed once."""

    event: PendingEvent
    storefront: Storefront
    payload: dict[str, Any]
    fill: dict[str, Any]  # storefront fields a direct INSERT left out, written with its status


@dataclass
class Contribution:
    """What one domain made of a batch of events."""

    queued: dict[int, str | None] = field(default_factory=dict)  # event id -> note
    notes: dict[int, str] = field(default_factory=dict)  # event id -> why nothing
    deliveries: int = 0
    claimed: list[ClaimedDelivery] = field(default_factory=list)  # created under the lease
    hint: Any = None  # what the domain's kind may reuse when it sends them at once


class Contributor(Protocol):
    """A domain's part of routing. ``lease`` is given when this worker works the domain's
    kind: its new deliveries are then created already claimed, to be sent at once."""

    kind: str

    def contribute(
        self, session: Session, events: list[RoutedEvent], now: datetime, lease: Lease | None
    ) -> Contribution: ...


@dataclass
class RoutingSummary:
    routed: int = 0
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    duplicate: int = 0
    deliveries: int = 0
    claimed: list[ClaimedDelivery] = field(default_factory=list)
    hints: dict[str, Any] = field(default_factory=dict)  # by kind, see Contribution.hint

    def merge(self, other: RoutingSummary) -> None:
        for name in ("routed", "queued", "skipped", "failed", "duplicate", "deliveries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.claimed += other.claimed
        for kind, hint in other.hints.items():
            mine = self.hints.get(kind)
            self.hints[kind] = hint if mine is None else mine.merged(hint)

    def add(self, status: str) -> None:
        self.routed += 1
        if status == EventStatus.QUEUED:
            self.queued += 1
        elif status == EventStatus.SKIPPED:
            self.skipped += 1
        elif status == EventStatus.FAILED:
            self.failed += 1
        elif status == EventStatus.DUPLICATE:
            self.duplicate += 1


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class Dispatcher:
    def __init__(self, contributors: Sequence[Contributor]) -> None:
        self.contributors = list(contributors)

    def route(
        self,
        session: Session,
        limit: int,
        lease: Lease | None = None,
        only: Collection[int] | None = None,
        claim_kinds: Collection[str] | None = None,
    ) -> RoutingSummary:
        """Route up to ``limit`` pending events (``only`` those, when given: routing them
        one at a time when a batch cannot be routed). With a ``lease``, the deliveries of
        ``claim_kinds`` (every kind when None) are created claimed by it."""
        summary = RoutingSummary()
        events = claim_pending_events(session, limit, only)
        if not events:
            return summary
        now = utcnow()
        statuses = _Statuses(summary)
        resolved = _resolve(session, events, statuses)
        queued: dict[int, list[str]] = {}
        skipped: dict[int, list[str]] = defaultdict(list)
        for contributor in self.contributors:
            claims = claim_kinds is None or contributor.kind in claim_kinds
            part = contributor.contribute(session, resolved, now, lease if claims else None)
            for event_id, note in part.queued.items():
                notes = queued.setdefault(event_id, [])
                if note:
                    notes.append(note)
            for event_id, note in part.notes.items():
                skipped[event_id].append(note)
            summary.deliveries += part.deliveries
            summary.claimed += part.claimed
            if part.hint is not None:
                summary.hints[contributor.kind] = part.hint
        for routed in resolved:
            event_id = routed.event.id
            fill = routed.fill
            if event_id in queued:
                statuses.finish(routed.event, EventStatus.QUEUED, _note(queued[event_id]), fill)
            else:
                reason = _note(skipped.get(event_id, [])) or "nothing to do for this event"
                statuses.finish(routed.event, EventStatus.SKIPPED, reason, fill)
        statuses.write(session, now)
        return summary


def _note(notes: list[str]) -> str | None:
    return "; ".join(notes) or None


class _Statuses:
    """Events' new statuses, written as one UPDATE per (status, detail); rows that also
    get their storefront filled in (direct INSERTs) one by one."""

    def __init__(self, summary: RoutingSummary) -> None:
        self.summary = summary
        self.finished: dict[tuple[EventStatus, str | None], list[int]] = defaultdict(list)
        self.filled_in: list[dict[str, Any]] = []

    def finish(
        self, event: PendingEvent, status: EventStatus, detail: str | None, fill: dict[str, Any]
    ) -> None:
        if fill:
            self.filled_in.append(
                {"id": event.id, "status": status.value, "status_detail": detail} | fill
            )
        else:
            self.finished[(status, detail)].append(event.id)
        self.summary.add(status)

    def write(self, session: Session, now: datetime) -> None:
        table = table_of(MarketingEvent)
        for (status, detail), ids in self.finished.items():
            values = {
                "status": status.value,
                "status_detail": detail,
                "updated_at": now,
                "processed_at": now if status != EventStatus.QUEUED else None,
            }
            update_in_chunks(session, table, ids, values)
        for row in self.filled_in:
            row |= {
                "updated_at": now,
                "processed_at": now if row["status"] != EventStatus.QUEUED.value else None,
            }
        for group in _same_shape(self.filled_in):
            session.execute(update(MarketingEvent), group)


def _resolve(
    session: Session, events: list[PendingEvent], statuses: _Statuses
) -> list[RoutedEvent]:
    """The events that can be routed. Rows written with only a storefront_code get their
    storefront_id now; a key that already exists makes the row a duplicate (the unique
    index cannot see NULL ids); an inactive storefront's events are skipped."""
    by_id, by_code = _load_storefronts(session, events)
    candidates: list[tuple[PendingEvent, Storefront, dict[str, Any]]] = []
    wanted_keys: set[tuple[int, str, str]] = set()
    for event in events:
        payload = _json_object(event.event_payload)
        if payload is None:
            statuses.finish(event, EventStatus.FAILED, "event_payload is not a JSON object", {})
            continue
        storefront = (
            by_id.get(event.storefront_id)
            if event.storefront_id is not None
            else by_code.get(event.storefront_code or "")
        )
        if storefront is None:
            reason = (
                f"unknown storefront id {event.storefront_id}"
                if event.storefront_id is not None
                else f"unknown storefront code {event.storefront_code!r}"
            )
            statuses.finish(event, EventStatus.FAILED, reason, {})
            continue
        if event.storefront_id is None:
            wanted_keys.add((storefront.id, event.event_type, event.event_id))
        candidates.append((event, storefront, payload))
    existing = _existing_keys(session, wanted_keys)
    resolved = []
    for event, storefront, payload in candidates:
        fill: dict[str, Any] = {}
        if event.storefront_id is None:
            key = (storefront.id, event.event_type, event.event_id)
            if key in existing:
                detail = f"duplicate of event #{existing[key]}"
                statuses.finish(event, EventStatus.DUPLICATE, detail, {})
                continue
            existing[key] = event.id
            fill = {"storefront_id": storefront.id, "storefront_code": storefront.code}
        elif event.storefront_code is None:
            fill = {"storefront_code": storefront.code}
        if not storefront.is_active:
            detail = f"storefront {storefront.code!r} is inactive"
            statuses.finish(event, EventStatus.SKIPPED, detail, fill)
            continue
        resolved.append(RoutedEvent(event, storefront, payload, fill))
    return resolved


def claim_pending_events(
    session: Session, limit: int, only: Collection[int] | None = None
) -> list[PendingEvent]:
    statement = (
        select(
            MarketingEvent.id,
            MarketingEvent.event_id,
            MarketingEvent.storefront_id,
            MarketingEvent.storefront_code,
            MarketingEvent.event_type,
            MarketingEvent.event_payload,
            MarketingEvent.event_time,
            MarketingEvent.received_at,
            MarketingEvent.source_system,
            MarketingEvent.user_id,
        )
        .where(MarketingEvent.status == EventStatus.PENDING.value)
        .order_by(MarketingEvent.id)
        .limit(limit)
    )
    if only is not None:
        statement = statement.where(MarketingEvent.id.in_(only))
    if session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(skip_locked=True)
    # Core, not the ORM session: plain rows, without the ORM's per-row result machinery.
    connection = session.connection()
    return [PendingEvent(*tuple(row)) for row in connection.execute(statement)]


def _load_storefronts(
    session: Session, events: list[PendingEvent]
) -> tuple[dict[int, Storefront], dict[str, Storefront]]:
    ids = {e.storefront_id for e in events if e.storefront_id is not None}
    codes = {e.storefront_code for e in events if e.storefront_id is None and e.storefront_code}
    clauses = []
    if ids:
        clauses.append(Storefront.id.in_(ids))
    if codes:
        clauses.append(Storefront.code.in_(codes))
    by_id: dict[int, Storefront] = {}
    for clause in clauses:
        for storefront in (session.execute(select(Storefront).where(clause))).scalars():
            by_id[storefront.id] = storefront
    return by_id, {s.code: s for s in by_id.values()}


def _existing_keys(
    session: Session, keys: set[tuple[int, str, str]]
) -> dict[tuple[int, str, str], int]:
    if not keys:
        return {}
    rows = session.execute(
        select(
            MarketingEvent.storefront_id,
            MarketingEvent.event_type,
            MarketingEvent.event_id,
            MarketingEvent.id,
        ).where(
            tuple_(
                MarketingEvent.storefront_id, MarketingEvent.event_type, MarketingEvent.event_id
            ).in_(list(keys))
        )
    )
    return {(r[0], r[1], r[2]): r[3] for r in rows if r[0] is not None}


def _same_shape(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """executemany needs rows of one shape; these differ only in optional columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return list(groups.values())


def pending_event_ids(session: Session, limit: int) -> list[int]:
    return list(
        session.execute(
            select(MarketingEvent.id)
            .where(MarketingEvent.status == EventStatus.PENDING.value)
            .order_by(MarketingEvent.id)
            .limit(limit)
        ).scalars()
    )


def set_aside(session: Session, event_id: int, reason: str) -> None:
    """An event that cannot be routed leaves the pending queue with its reason."""
    now = utcnow()
    session.execute(
        update(MarketingEvent)
        .where(MarketingEvent.id == event_id, MarketingEvent.status == EventStatus.PENDING.value)
        .values(
            status=EventStatus.FAILED.value, status_detail=reason, updated_at=now, processed_at=now
        )
    )


SET_ASIDE = "cannot be routed"  # how the reason of an event set aside starts


def route_again(session: Session, event_ids: Collection[int] | None = None) -> int:
    """Events set aside because they could not be routed (all, or those of ``event_ids``)
    go back to ``pending``, for the next routing pass: after the bug that stopped them is
    fixed. How many did."""
    statement = update(MarketingEvent).where(
        MarketingEvent.status == EventStatus.FAILED.value,
        MarketingEvent.status_detail.startswith(SET_ASIDE, autoescape=True),
    )
    if event_ids is not None:
        statement = statement.where(MarketingEvent.id.in_(sorted(set(event_ids))))
    changed = session.execute(
        statement.values(
            status=EventStatus.PENDING.value,
            status_detail=None,
            processed_at=None,
            updated_at=utcnow(),
        )
    )
    return int(getattr(changed, "rowcount", 0) or 0)


def unroutable_reason(exc: BaseException) -> str:
    """Why an event could not be routed, without the driver's parameter values."""
    if isinstance(exc, IntegrityError):
        return (
            f"{SET_ASIDE}: deliveries of this event already exist (was it set back to "
            "pending?); replay its deliveries instead"
        )
    return f"{SET_ASIDE}: {type(exc).__name__}"

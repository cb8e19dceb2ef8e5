"""Routing: turn stored ``pending`` events (from the API or a direct INSERT) into delivery
rows, in one transaction per batch.

Both ingestion paths end here, so a row the OMS inserted itself is treated exactly like
one the API accepted: its ``storefront_code`` is resolved, duplicates are recognised, and
the storefront's destinations are chosen (sGTM when an active config exists, otherwise
every active platform credential whose platform is active globally).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnirelay.db import id_in
from omnirelay.delivery.claim import COLUMNS as CLAIMED_COLUMNS
from omnirelay.delivery.claim import ClaimedDelivery, Lease
from omnirelay.delivery.context import StoredEvent
from omnirelay.delivery.recording import update_in_chunks
from omnirelay.destinations import SGTM_CODES, get_destination
from omnirelay.models import (
    AdAnalyticsPlatform,
    Delivery,
    EventStatus,
    MarketingEvent,
    PlatformCredential,
    SgtmConfig,
    Storefront,
    table_of,
)
from omnirelay.models.base import utcnow


@dataclass
class RoutingSummary:
    routed: int = 0
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    duplicate: int = 0
    deliveries: int = 0
    # With a lease: the new deliveries, already claimed, and their events as read here.
    claimed: list[ClaimedDelivery] = field(default_factory=list)
    events: dict[int, StoredEvent] = field(default_factory=dict)
    routes: list[StorefrontRoutes] = field(default_factory=list)  # as read for them

    def merge(self, other: RoutingSummary) -> None:
        for name in ("routed", "queued", "skipped", "failed", "duplicate", "deliveries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.claimed += other.claimed
        self.events |= other.events
        self.routes += other.routes

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


@dataclass
class StorefrontRoutes:
    storefront: Storefront
    sgtm: SgtmConfig | None = None
    platforms: list[tuple[PlatformCredential, AdAnalyticsPlatform]] = field(default_factory=list)


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def allows(event_types: list[str] | None, event_type: str) -> bool:
    return not event_types or event_type in event_types


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

    def stored(self, storefront: Storefront, payload: dict[str, Any]) -> StoredEvent:
        return StoredEvent(
            self.id,
            self.event_id,
            self.event_type,
            self.event_time,
            self.received_at,
            storefront.code,
            payload,
            self.event_payload,
        )


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
    return [PendingEvent(*row) for row in connection.execute(statement)]


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


def load_routes(session: Session, storefronts: list[Storefront]) -> dict[int, StorefrontRoutes]:
    routes = {s.id: StorefrontRoutes(s) for s in storefronts}
    if not routes:
        return routes
    configs = session.execute(
        select(SgtmConfig).where(
            SgtmConfig.storefront_id.in_(routes), SgtmConfig.is_active.is_(True)
        )
    )
    for config in configs.scalars():
        routes[config.storefront_id].sgtm = config
    credentials = session.execute(
        select(PlatformCredential, AdAnalyticsPlatform)
        .join(AdAnalyticsPlatform, AdAnalyticsPlatform.id == PlatformCredential.platform_id)
        .where(
            PlatformCredential.storefront_id.in_(routes),
            PlatformCredential.is_active.is_(True),
            AdAnalyticsPlatform.is_active.is_(True),
        )
        .order_by(PlatformCredential.id)
    )
    for credential, platform in credentials:
        routes[credential.storefront_id].platforms.append((credential, platform))
    return routes


def _deliveries_for(
    event_type: str, routes: StorefrontRoutes
) -> tuple[list[dict[str, Any]], str | None]:
    """Delivery rows (without ``event_id``) for an event type of a storefront, and a
    note on destinations that were left out."""
    base = {"storefront_id": routes.storefront.id}
    if routes.sgtm is not None:
        if not allows(routes.sgtm.event_types, event_type):
            return [], f"event type {event_type!r} is not enabled for sGTM"
        code = SGTM_CODES.get(routes.sgtm.client_type, SGTM_CODES["ga4"])
        return [
            base
            | {
                "destination_type": "sgtm",
                "destination_code": code,
                "destination_key": f"sgtm:{routes.sgtm.id}",
                "sgtm_config_id": routes.sgtm.id,
            }
        ], None
    rows, notes = [], []
    for credential, platform in routes.platforms:
        if get_destination(platform.platform_code) is None:
            notes.append(f"no sender for platform {platform.platform_code!r}")
            continue
        if not allows(credential.event_types, event_type):
            notes.append(f"{event_type!r} not enabled for {platform.platform_code!r}")
            continue
        rows.append(
            base
            | {
                "destination_type": "platform",
                "destination_code": platform.platform_code,
                "destination_key": f"platform:{credential.id}",
                "credential_id": credential.id,
            }
        )
    return rows, "; ".join(notes) or None


def route_pending_events(
    session: Session, limit: int, lease: Lease | None = None, only: Collection[int] | None = None
) -> RoutingSummary:
    """Route up to ``limit`` pending events. With a ``lease`` the new deliveries are
    created already claimed by that worker, so it can send them at once: no second
    query to claim them, none to read their events again.

    The work per event is a dictionary lookup or two: events are grouped by storefront
    and event type (one routing plan each), the database copies each group's event ids
    into its delivery rows, and status changes are one UPDATE per (status, detail).
    ``only`` limits the pass to those events (routing them one at a time when a batch
    cannot be routed, see ``route_apart``)."""
    summary = RoutingSummary()
    events = claim_pending_events(session, limit, only)
    if not events:
        return summary
    by_id, by_code = _load_storefronts(session, events)
    now = utcnow()
    finished: dict[tuple[EventStatus, str | None], list[int]] = defaultdict(list)
    filled_in: list[dict[str, Any]] = []  # direct INSERTs: storefront fields completed too

    def finish(
        event: PendingEvent, status: EventStatus, detail: str | None, fill: dict[str, Any]
    ) -> None:
        if fill:
            filled_in.append(
                {"id": event.id, "status": status.value, "status_detail": detail} | fill
            )
        else:
            finished[(status, detail)].append(event.id)
        summary.add(status)

    # Rows written with only a storefront_code get their storefront_id now; a key that
    # already exists makes the row a duplicate (the unique index cannot see NULL ids).
    resolved: list[tuple[PendingEvent, Storefront, dict[str, Any]]] = []
    wanted_keys: set[tuple[int, str, str]] = set()
    for event in events:
        payload = _json_object(event.event_payload)
        if payload is None:
            finish(event, EventStatus.FAILED, "event_payload is not a JSON object", {})
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
            finish(event, EventStatus.FAILED, reason, {})
            continue
        if event.storefront_id is None:
            wanted_keys.add((storefront.id, event.event_type, event.event_id))
        resolved.append((event, storefront, payload))
    existing = _existing_keys(session, wanted_keys)
    routes = load_routes(session, list({s.id: s for _, s, _ in resolved}.values()))

    plans: dict[tuple[int, str], tuple[list[dict[str, Any]], str | None]] = {}
    routed: dict[tuple[int, str], list[int]] = defaultdict(list)
    for event, storefront, payload in resolved:
        fill: dict[str, Any] = {}
        if event.storefront_id is None:
            key = (storefront.id, event.event_type, event.event_id)
            if key in existing:
                finish(event, EventStatus.DUPLICATE, f"duplicate of event #{existing[key]}", {})
                continue
            existing[key] = event.id
            fill = {"storefront_id": storefront.id, "storefront_code": storefront.code}
        elif event.storefront_code is None:
            fill = {"storefront_code": storefront.code}
        if not storefront.is_active:
            finish(event, EventStatus.SKIPPED, f"storefront {storefront.code!r} is inactive", fill)
            continue
        route_key = (storefront.id, event.event_type)
        plan = plans.get(route_key)
        if plan is None:  # the same for every event of that type and storefront
            plan = plans[route_key] = _deliveries_for(event.event_type, routes[storefront.id])
        rows, note = plan
        if not rows:
            detail = note or "no active destination for this storefront"
            finish(event, EventStatus.SKIPPED, detail, fill)
            continue
        routed[route_key].append(event.id)
        finish(event, EventStatus.QUEUED, note, fill)
        if lease is not None:
            summary.events[event.id] = event.stored(storefront, payload)

    for route_key, event_ids in routed.items():
        for row in plans[route_key][0]:
            _insert_deliveries(session, row, event_ids, now, lease)
            summary.deliveries += len(event_ids)
    if lease is not None and routed:
        summary.claimed = _read_claimed(session, summary.events.keys(), lease)
        summary.routes = [routes[storefront_id] for storefront_id in {s for s, _ in routed}]
    _write_event_updates(session, finished, filled_in, now)
    return summary


_DELIVERY_COLUMNS = (
    "event_id",
    "kind",
    "storefront_id",
    "destination_type",
    "destination_code",
    "destination_key",
    "sgtm_config_id",
    "credential_id",
    "status",
    "attempt_count",
    "next_attempt_at",
    "lease_expires_at",
    "claimed_by",
    "created_at",
    "updated_at",
)


def _insert_deliveries(
    session: Session,
    row: dict[str, Any],
    event_ids: list[int],
    now: datetime,
    lease: Lease | None,
) -> None:
    """One destination's delivery rows for ``event_ids``, copied by the database from the
    event rows (``INSERT ... SELECT``): pending, or claimed under ``lease``."""
    values: dict[str, Any] = {
        "kind": "relay",
        "sgtm_config_id": None,
        "credential_id": None,
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": now,
        "lease_expires_at": None,
        "claimed_by": None,
        "created_at": now,
        "updated_at": now,
    } | row
    if lease is not None:
        values |= lease.claim_values(now)
    table = table_of(Delivery)
    events = table_of(MarketingEvent)
    source = select(
        events.c.id,
        *(literal(values[name], table.c[name].type) for name in _DELIVERY_COLUMNS[1:]),
    ).where(id_in(session, events.c.id, event_ids))
    session.execute(insert(table).from_select(list(_DELIVERY_COLUMNS), source))


def _read_claimed(
    session: Session, event_ids: Collection[int], lease: Lease
) -> list[ClaimedDelivery]:
    """The deliveries just created under ``lease`` (RETURNING is not on every database)."""
    table = table_of(Delivery)
    connection = session.connection()
    result = connection.execute(
        select(*CLAIMED_COLUMNS)
        .where(id_in(session, table.c.event_id, event_ids))
        .where(table.c.claimed_by == lease.worker_id)
        .where(table.c.status == "in_flight")
    )
    return list(map(ClaimedDelivery._make, result))


def _write_event_updates(
    session: Session,
    finished: dict[tuple[EventStatus, str | None], list[int]],
    filled_in: list[dict[str, Any]],
    now: datetime,
) -> None:
    """One UPDATE per (status, detail); rows that also get their storefront filled in
    (direct INSERTs) are updated one by one."""
    table = table_of(MarketingEvent)
    for (status, detail), ids in finished.items():
        values = {
            "status": status.value,
            "status_detail": detail,
            "updated_at": now,
            "processed_at": now if status != EventStatus.QUEUED else None,
        }
        update_in_chunks(session, table, ids, values)
    for row in filled_in:
        row |= {
            "updated_at": now,
            "processed_at": now if row["status"] != EventStatus.QUEUED.value else None,
        }
    for group in _same_shape(filled_in):
        session.execute(update(MarketingEvent), group)


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


def unroutable_reason(exc: BaseException) -> str:
    """Why an event could not be routed, without the driver's parameter values."""
    if isinstance(exc, IntegrityError):
        return (
            "cannot be routed: deliveries of this event already exist (was it set back to "
            "pending?); replay its deliveries instead"
        )
    return f"cannot be routed: {type(exc).__name__}"

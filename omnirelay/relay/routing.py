"""Relay routing: which destinations a stored event goes to, as delivery rows.

The relay's part of the dispatcher (``omnirelay.delivery.dispatch``): for each routed
event, sGTM when the storefront has an active config, otherwise every active platform
credential whose platform is active globally and takes the event's type. A behavioural
event (posted to POST /events, for the messaging rules) goes only where a destination's
``event_types`` names its type: a list left empty means "every OMS event", not "every
page view and click a product sends". The database
copies each group's event ids into the delivery rows (``INSERT ... SELECT``); the work per
event is a dictionary lookup or two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import insert, literal, select
from sqlalchemy.orm import Session

from omnirelay.db import id_in
from omnirelay.delivery.claim import COLUMNS as CLAIMED_COLUMNS
from omnirelay.delivery.claim import ClaimedDelivery, Lease
from omnirelay.delivery.dispatch import Contribution, RoutedEvent
from omnirelay.destinations import SGTM_CODES, get_destination
from omnirelay.models import (
    BEHAVIOURAL_SOURCE,
    AdAnalyticsPlatform,
    Delivery,
    MarketingEvent,
    PlatformCredential,
    SgtmConfig,
    Storefront,
    table_of,
)
from omnirelay.relay.context import RelayHint, StoredEvent, StorefrontRoutes

NO_DESTINATION = "no active destination for this storefront"


class RelayRouting:
    """The relay's contributor to routing."""

    kind = "relay"

    def contribute(
        self, session: Session, events: list[RoutedEvent], now: datetime, lease: Lease | None
    ) -> Contribution:
        part = Contribution()
        if not events:
            return part
        routes = load_routes(
            session, list({e.storefront.id: e.storefront for e in events}.values())
        )
        plans: dict[tuple[int, str, bool], tuple[list[dict[str, Any]], str | None]] = {}
        routed: dict[tuple[int, str, bool], list[int]] = defaultdict(list)
        hint = RelayHint()
        for item in events:
            event, storefront = item.event, item.storefront
            named_only = event.source_system == BEHAVIOURAL_SOURCE
            route_key = (storefront.id, event.event_type, named_only)
            plan = plans.get(route_key)
            if plan is None:  # the same for every event of that type, source and storefront
                plan = plans[route_key] = _deliveries_for(
                    event.event_type, routes[storefront.id], named_only
                )
            rows, note = plan
            if not rows:
                part.notes[event.id] = note or NO_DESTINATION
                continue
            routed[route_key].append(event.id)
            part.queued[event.id] = note
            if lease is not None:
                hint.events[event.id] = StoredEvent(
                    event.id,
                    event.event_id,
                    event.event_type,
                    event.event_time,
                    event.received_at,
                    storefront.code,
                    item.payload,
                    event.event_payload,
                )
        claimed: list[ClaimedDelivery] = []
        returning = lease is not None and session.get_bind().dialect.insert_returning
        for route_key, event_ids in routed.items():
            for row in plans[route_key][0]:
                claimed += _insert_deliveries(session, row, event_ids, now, lease, returning)
                part.deliveries += len(event_ids)
        if lease is not None and routed:
            part.claimed = claimed if returning else _read_claimed(session, hint.events, lease)
            hint.routes = [routes[storefront_id] for storefront_id in {s for s, _, _ in routed}]
            part.hint = hint
        return part


def allows(event_types: list[str] | None, event_type: str, named_only: bool = False) -> bool:
    """Whether a destination with ``event_types`` takes the type (``named_only``: only
    when the list names it; see the module docstring)."""
    if named_only:
        return bool(event_types) and event_type in (event_types or ())
    return not event_types or event_type in event_types


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
    event_type: str, routes: StorefrontRoutes, named_only: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """Delivery rows (without ``event_id``) for an event type of a storefront, and a
    note on destinations that were left out."""
    base = {"storefront_id": routes.storefront.id}
    if routes.sgtm is not None:
        if not allows(routes.sgtm.event_types, event_type, named_only):
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
        if not allows(credential.event_types, event_type, named_only):
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
    returning: bool = False,
) -> list[ClaimedDelivery]:
    """One destination's delivery rows for ``event_ids``, copied by the database from the
    event rows (``INSERT ... SELECT``): pending, or claimed under ``lease``. With
    ``returning`` the claimed rows come back from the INSERT itself."""
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
    statement = insert(table).from_select(list(_DELIVERY_COLUMNS), source)
    if not returning:
        session.execute(statement)
        return []
    result = session.connection().execute(statement.returning(*CLAIMED_COLUMNS))
    return list(map(ClaimedDelivery._make, result))


def _read_claimed(
    session: Session, event_ids: Collection[int], lease: Lease
) -> list[ClaimedDelivery]:
    """The deliveries just created under ``lease``, where INSERT has no RETURNING (MySQL)."""
    table = table_of(Delivery)
    connection = session.connection()
    result = connection.execute(
        select(*CLAIMED_COLUMNS)
        .where(id_in(session, table.c.event_id, event_ids))
        .where(table.c.claimed_by == lease.worker_id)
        .where(table.c.status == "in_flight")
    )
    return list(map(ClaimedDelivery._make, result))

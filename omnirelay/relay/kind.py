"""The relay as a kind of delivery: stored events sent to sGTM or an ad platform's API.

A batch is the events bound for one destination. Its live configuration (kill switches,
credentials) is read when it is sent; ``prepare`` and ``classify`` are the destination
module's own; the settlement is each event's summary status.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy.orm import Session

from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.kinds import DeliveryKind, Plan, ReadSession, WorkBatch
from omnirelay.delivery.recording import BatchRecord
from omnirelay.delivery.subjects import settle_events
from omnirelay.delivery.transports import Transport
from omnirelay.destinations import get_destination
from omnirelay.destinations.base import (
    DeliveryOutcome,
    Destination,
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    Prepared,
    PreparedRequest,
)
from omnirelay.relay.context import (
    RelayHint,
    ResolvedDestination,
    StoredEvent,
    destination_for,
    load_events,
    outbound_event,
    resolve_destinations,
    routed_destinations,
)
from omnirelay.relay.preparing import Preparer
from omnirelay.security import Vault


def secret_values(target: DestinationTarget) -> list[str]:
    """Every credential value of a target, as text to scrub from what is recorded."""
    values: list[str] = []
    for value in target.credentials.values():
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, dict):
            values.extend(str(v) for v in value.values())
    return values


@dataclass(frozen=True, kw_only=True)
class RelayBatch(WorkBatch):
    """Events (``OutboundEvent`` items) bound for one destination."""

    module: Destination
    target: DestinationTarget


class RelayKind(DeliveryKind):
    name = "relay"

    def __init__(self, transport: Transport, vault: Vault, preparer: Preparer) -> None:
        super().__init__(transport)
        self.vault = vault
        self.preparer = preparer

    async def start(self) -> None:
        await self.preparer.start()

    def close(self) -> None:
        self.preparer.close()

    async def plan(
        self, deliveries: list[ClaimedDelivery], hint: RelayHint | None, read: ReadSession
    ) -> Plan:
        known = hint.events if hint else {}
        events = dict(known)
        destinations = routed_destinations(hint.routes if hint else (), self.vault)
        missing = {
            d.event_id for d in deliveries if d.event_id is not None and d.event_id not in known
        }
        unresolved = [d for d in deliveries if d.destination_key not in destinations]
        plan = Plan(context=known.keys())
        if missing or unresolved:
            async with read() as session:
                if missing:
                    loaded, unreadable = await load_events(session, missing)
                    events |= loaded
                    plan.decided |= {
                        d.id: (Outcome.PERMANENT.value, unreadable[d.event_id])
                        for d in deliveries
                        if d.event_id in unreadable
                    }
                if unresolved:
                    destinations |= await resolve_destinations(session, unresolved, self.vault)
        groups: dict[tuple[str, str, int | None], list[ClaimedDelivery]] = defaultdict(list)
        for d in deliveries:
            groups[(d.destination_code, d.destination_key, d.storefront_id)].append(d)
        # events routed in this pass have all their deliveries here: no query to sum up
        for (code, _, _), members in groups.items():
            members = [d for d in members if d.id not in plan.decided]
            if not members:
                continue
            destination = destination_for(members[0], destinations)
            batch = self._batch(code, destination, members, events, plan.decided)
            if batch is not None:
                plan.batches.append(batch)
        return plan

    def _batch(
        self,
        code: str,
        destination: ResolvedDestination,
        members: list[ClaimedDelivery],
        events: dict[int, StoredEvent],
        decided: dict[int, tuple[str, str | None]],
    ) -> RelayBatch | None:
        """The events one destination will get, after the checks made at send time."""
        module = get_destination(code)
        if module is None:
            decided |= {d.id: (Outcome.PERMANENT.value, f"no sender for {code!r}") for d in members}
            return None
        if destination.failed:  # e.g. credentials that cannot be decrypted: retried later
            decided |= {d.id: (Outcome.RETRY.value, destination.failed) for d in members}
            return None
        if destination.blocked or destination.target is None:
            decided |= {d.id: ("skipped", destination.blocked) for d in members}
            return None
        outbound = []
        for delivery in members:
            event = events.get(delivery.event_id) if delivery.event_id is not None else None
            if event is None:
                decided[delivery.id] = ("skipped", "event was deleted")
                continue
            if destination.event_types and event.event_type not in destination.event_types:
                decided[delivery.id] = ("skipped", f"{event.event_type!r} is no longer enabled")
                continue
            outbound.append(
                outbound_event(
                    delivery, event, destination.event_name_map, module.default_event_names
                )
            )
        if not outbound:
            return None
        target = destination.target
        return RelayBatch(code, outbound, secret_values(target), module=module, target=target)

    async def prepare(self, batch: RelayBatch) -> Prepared:
        events = cast("list[OutboundEvent]", list(batch.items))  # as _batch made them
        return await self.preparer.prepare(batch.code, batch.module, events, batch.target)

    def classify(
        self, batch: RelayBatch, request: PreparedRequest, result: HttpResult
    ) -> list[DeliveryOutcome]:
        return batch.module.classify(request, result)

    def settle(
        self,
        session: Session,
        record: BatchRecord,
        deliveries: list[ClaimedDelivery],
        context: Iterable[int] | None,
    ) -> None:
        settle_events(session, deliveries, record.state, record.now, list(context or ()))

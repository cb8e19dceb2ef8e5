"""Sending claimed deliveries and recording every attempt.

Three phases, so no transaction is open across an HTTP call:
1. read (short transaction): events and the destinations' live config (kill switches);
2. send (no transaction): prepare requests per destination, send them concurrently;
3. record (one transaction): requests, attempts, delivery states, event summaries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.config import Settings
from omnirelay.db import is_row_error, run_transaction, session_scope
from omnirelay.delivery import recording
from omnirelay.delivery.backoff import retry_delay
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.context import (
    ResolvedDestination,
    StoredEvent,
    load_events,
    outbound_event,
    resolve_destinations,
    routed_destinations,
)
from omnirelay.delivery.preparing import Preparer
from omnirelay.delivery.recording import scrub, secret_values
from omnirelay.destinations import get_destination
from omnirelay.destinations.base import (
    DeliveryOutcome,
    Destination,
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    PreparedRequest,
    all_outcomes,
)
from omnirelay.metrics import Metrics
from omnirelay.models.base import utcnow
from omnirelay.security import Vault

if TYPE_CHECKING:
    from omnirelay.delivery.routing import StorefrontRoutes

log = logging.getLogger("omnirelay.worker")
RECORD_RETRY_MAX_SECONDS = 5.0


@dataclass
class SentRequest:
    destination_code: str
    request: PreparedRequest
    result: HttpResult
    duration_ms: int
    outcomes: list[DeliveryOutcome]
    body: bytes | None  # exactly what went on the wire


@dataclass(frozen=True)
class OutboundBatch:
    """Events bound for one destination, with what is needed to prepare them again."""

    code: str
    module: Destination
    target: DestinationTarget
    events: list[OutboundEvent]

    def with_events(self, events: list[OutboundEvent]) -> OutboundBatch:
        return OutboundBatch(self.code, self.module, self.target, events)


@dataclass
class BatchReport:
    sent: list[SentRequest] = field(default_factory=list)
    # deliveries decided without a request: (outcome, error, warnings)
    decided: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


class DeliveryEngine:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        vault: Vault,
        metrics: Metrics,
        client: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.vault = vault
        self.metrics = metrics
        self.client = client
        self.stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self.preparer = Preparer(settings.worker_prepare_processes)

    async def deliver(
        self,
        deliveries: list[ClaimedDelivery],
        known: Mapping[int, StoredEvent] | None = None,
        routes: Iterable[StorefrontRoutes] = (),
        holder: str | None = None,
    ) -> BatchReport:
        """Send and record claimed deliveries. What routing has just read for them (their
        ``known`` events, the ``routes`` of their storefronts) is not read again. ``holder``
        is the lease token they were claimed under: recording changes only what it still
        holds."""
        report = BatchReport()
        known = known or {}
        events = dict(known)
        destinations = routed_destinations(routes, self.vault)
        missing = {d.event_id for d in deliveries if d.event_id not in known}
        unresolved = [d for d in deliveries if d.destination_key not in destinations]
        if missing or unresolved:
            async with session_scope(self.sessionmaker, read_only=True) as session:
                if missing:
                    events |= await load_events(session, missing)
                if unresolved:
                    destinations |= await resolve_destinations(session, unresolved, self.vault)
        groups: dict[tuple[str, str], list[ClaimedDelivery]] = defaultdict(list)
        for delivery in deliveries:
            groups[(delivery.destination_code, delivery.destination_key)].append(delivery)
        try:
            batches = [
                self._outbound(code, destinations[key], members, events, report)
                for (code, key), members in groups.items()
            ]
            await asyncio.gather(*(self._send_batch(batch, report) for batch in batches if batch))
        finally:
            # Whatever happened above, what was sent is recorded, and each batch's failure
            # is an outcome of that batch's deliveries alone (see _send_batch and _send).
            await self._record(deliveries, report, known.keys(), holder)
        return report

    def _outbound(
        self,
        code: str,
        destination: ResolvedDestination,
        members: list[ClaimedDelivery],
        events: dict[int, StoredEvent],
        report: BatchReport,
    ) -> OutboundBatch | None:
        """The events one destination will get, after the checks made at send time."""
        module = get_destination(code)
        if module is None:
            for d in members:
                report.decided[d.id] = (Outcome.PERMANENT.value, f"no sender for {code!r}")
            return None
        if destination.failed:  # e.g. credentials that cannot be decrypted: retried later
            for d in members:
                report.decided[d.id] = (Outcome.RETRY.value, destination.failed)
            return None
        if destination.blocked or destination.target is None:
            for d in members:
                report.decided[d.id] = ("skipped", destination.blocked)
            return None
        outbound = []
        for delivery in members:
            event = events.get(delivery.event_id)
            if event is None:
                report.decided[delivery.id] = ("skipped", "event was deleted")
                continue
            if destination.event_types and event.event_type not in destination.event_types:
                report.decided[delivery.id] = (
                    "skipped",
                    f"{event.event_type!r} is no longer enabled",
                )
                continue
            outbound.append(
                outbound_event(
                    delivery, event, destination.event_name_map, module.default_event_names
                )
            )
        return OutboundBatch(code, module, destination.target, outbound) if outbound else None

    async def _send_batch(self, batch: OutboundBatch, report: BatchReport) -> None:
        """Prepare and send; a request refused as a whole (SPLIT) is sent again in halves.

        When preparing raises (a bug, a payload it cannot handle, a dead preparing process
        that fails again inline), the batch is prepared again in halves until the event
        that makes it fail stands alone: that one is retried later with the error, and
        the others go out now."""
        try:
            prepared = await self.preparer.prepare(
                batch.code, batch.module, batch.events, batch.target
            )
        except Exception as exc:
            if len(batch.events) > 1:
                half = len(batch.events) // 2
                await asyncio.gather(
                    self._send_batch(batch.with_events(batch.events[:half]), report),
                    self._send_batch(batch.with_events(batch.events[half:]), report),
                )
                return
            log.warning("%s: preparing a request failed: %s", batch.code, type(exc).__name__)
            error = f"could not prepare the request: {type(exc).__name__}: {exc}"
            error = scrub(error, secret_values(batch.target)) or error
            for event in batch.events:
                report.decided[event.delivery_id] = (Outcome.RETRY.value, error[:500])
            return
        for outcome in prepared.rejected:
            report.decided[outcome.delivery_id] = (Outcome.PERMANENT.value, outcome.error)
        await asyncio.gather(*(self._send(batch, request, report) for request in prepared.requests))

    async def _send(
        self, batch: OutboundBatch, request: PreparedRequest, report: BatchReport
    ) -> None:
        async with self._slots:
            if self.stopping.is_set():
                report.released.extend(request.delivery_ids)
                return
            try:
                body = request.body_bytes() if request.has_body else None
                prepared = self._build(request, body)
            except Exception as exc:  # never on the wire: nothing to send again blindly
                error = f"request could not be built: {type(exc).__name__}: {exc}"
                outcome = Outcome.PERMANENT.value
                for delivery_id in request.delivery_ids:
                    report.decided[delivery_id] = (outcome, scrub(error, request.secrets))
                return
            started = time.perf_counter()
            result = await self._http(prepared)
            duration = time.perf_counter() - started
        try:
            outcomes = batch.module.classify(request, result)
        except Exception as exc:  # the request went out: record it, retry its deliveries
            error = f"could not read the answer: {type(exc).__name__}: {exc}"
            outcomes = all_outcomes(request, Outcome.RETRY, error)
        self.metrics.attempt_seconds.labels(batch.code).observe(duration)
        report.sent.append(
            SentRequest(batch.code, request, result, int(duration * 1000), outcomes, body)
        )
        resend = {o.delivery_id for o in outcomes if o.outcome == Outcome.RESEND}
        if resend and len(resend) < len(request.delivery_ids):
            # the platform refused the request because of the events it named; the others
            # were not processed and go out again now, not charged an attempt
            events = [e for e in batch.events if e.delivery_id in resend]
            await self._send_batch(batch.with_events(events), report)
        refused = {o.delivery_id for o in outcomes if o.outcome == Outcome.SPLIT}
        if refused:
            events = [e for e in batch.events if e.delivery_id in refused]
            half = len(events) // 2
            await asyncio.gather(
                *(
                    self._send_batch(batch.with_events(part), report)
                    for part in (events[:half], events[half:])
                    if part
                )
            )

    def _build(self, request: PreparedRequest, body: bytes | None) -> httpx.Request:
        """The request as it goes on the wire (a header that is not ASCII fails here)."""
        return self.client.build_request(
            request.method,
            request.url,
            content=body,
            headers={"content-type": "application/json", **request.headers},
        )

    async def _http(self, request: httpx.Request) -> HttpResult:
        try:
            response = await self.client.send(request)
            text = response.text
        except httpx.TimeoutException as exc:
            return HttpResult(None, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return HttpResult(None, error=f"network: {type(exc).__name__}: {exc}")
        except Exception as exc:  # anything else is this request's outcome, not the pass's
            return HttpResult(None, error=f"send failed: {type(exc).__name__}: {exc}")
        return HttpResult(response.status_code, dict(response.headers), text)

    async def _record(
        self,
        deliveries: list[ClaimedDelivery],
        report: BatchReport,
        complete_events: Collection[int] = (),
        holder: str | None = None,
    ) -> None:
        now = utcnow()
        by_id = {d.id: d for d in deliveries}

        def next_attempt(failures: int, retry_after: float | None) -> datetime:
            delay = retry_delay(failures, self.settings.retry_backoff_base, retry_after)
            return now + timedelta(seconds=delay)

        record = recording.plan_record(
            by_id,
            report,
            now,
            next_attempt=next_attempt,
            max_attempts=self.settings.max_retry_attempts,
            complete_events=complete_events,
            holder=holder,
        )
        # What was sent must be recorded: a lost deadlock is run again, and while the
        # database is unreachable the write waits and tries again (the lease renewal keeps
        # the claim), never dropped, so the batch is not sent a second time.
        delay = 0.5
        while True:
            try:
                await run_transaction(self.sessionmaker, record.write)
                break
            except Exception as exc:
                # on shutdown the wait is bounded: the lease then runs out and the batch is
                # claimed again, rather than the process never stopping during an outage
                if is_row_error(exc) or (
                    self.stopping.is_set() and delay >= RECORD_RETRY_MAX_SECONDS
                ):
                    raise
                log.warning(
                    "recording %d outcomes failed (%s); trying again in %.1f s",
                    len(deliveries),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
        record.count(self.metrics)

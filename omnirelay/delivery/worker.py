"""The worker loop: route new events, claim due deliveries, send, record; repeat.

It sleeps only when there is nothing to do, and wakes at once when the API accepts events
in the same process (``wake``); events from a direct INSERT or another process are seen
within ``WORKER_POLL_INTERVAL`` (0.5 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.config import Settings
from omnirelay.db import is_db_unavailable, is_row_error, run_transaction, session_scope
from omnirelay.delivery.claim import Lease, claim_due, renew_leases
from omnirelay.delivery.dispatch import (
    Dispatcher,
    RoutingSummary,
    pending_event_ids,
    set_aside,
    unroutable_reason,
)
from omnirelay.delivery.engine import DeliveryEngine
from omnirelay.delivery.kinds import Registry
from omnirelay.metrics import Metrics
from omnirelay.models import Delivery, DeliveryStatus, EventStatus, MarketingEvent
from omnirelay.models.base import utcnow

log = logging.getLogger("omnirelay.worker")
LANE_BACKOFF_MAX_SECONDS = 30.0
# Work a domain does after each routing pass, in transactions of its own (the messaging
# rules deciding the events routing queued for them); returns how many items it worked.
FollowUp = Callable[[], Awaitable[int]]
DRAIN_OUTAGE_RETRIES = 8


def new_worker_id() -> str:
    # a lease token adds ":<pass>"; claimed_by holds 100 characters
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Works the ``kinds`` it is given (claims filter by them) and routes stored events
    with ``dispatcher`` (None: this worker does not route), each routing pass followed by
    the ``follow_ups``. ``omnirelay.pipeline`` puts one together."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        metrics: Metrics,
        kinds: Registry,
        dispatcher: Dispatcher | None,
        *,
        follow_ups: Sequence[FollowUp] = (),
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.metrics = metrics
        self.kinds = kinds
        self.dispatcher = dispatcher
        self.follow_ups = list(follow_ups) if dispatcher is not None else []
        self.worker_id = new_worker_id()
        self._on_close = on_close
        self.engine = DeliveryEngine(settings, sessionmaker, metrics, kinds)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._passes = itertools.count(1)
        self.held: set[str] = set()  # lease tokens of the passes in hand (renewed)

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        """Finish the batch in hand (requests already on the wire) and release the rest."""
        self._stopping.set()
        self.engine.stopping.set()
        self._wakeup.set()

    async def start(self) -> None:
        """Start what the kinds keep running, such as the relay's preparing processes
        (``run`` does it; a one-shot ``drain`` starts them on its first batch)."""
        for kind in self.kinds.values():
            await kind.start()

    async def close(self) -> None:
        for kind in self.kinds.values():
            kind.close()
        if self._on_close is not None:
            await self._on_close()

    async def run(self) -> None:
        """Several lanes each claim and deliver a batch, so one batch's network wait
        overlaps the next batch's database work."""
        log.info("worker %s started", self.worker_id)
        try:
            await self.start()
            renewing = asyncio.create_task(self._renew_leases(), name="lease-renewal")
            try:
                await asyncio.gather(
                    *(self._lane() for _ in range(self.settings.worker_batches_in_flight))
                )
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
        finally:
            await self.close()
            log.info("worker %s stopped", self.worker_id)

    async def renew_once(self) -> int:
        """Extend the leases of every pass in hand; returns how many deliveries."""
        if not self.held:
            return 0
        now = utcnow()
        until = now + timedelta(seconds=self.settings.worker_lease_seconds)
        holders = sorted(self.held)
        return await run_transaction(
            self.sessionmaker, lambda session: renew_leases(session, holders, until, now)
        )

    async def _renew_leases(self) -> None:
        """A third of the lease before each renewal: a send that outlasts its lease keeps
        its claim while this worker lives, so no other lane or worker sends it again."""
        interval = max(0.05, self.settings.worker_lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew_once()
            except Exception as exc:  # the next renewal tries again
                log.warning("renewing leases failed: %s", type(exc).__name__)

    async def _lane(self) -> None:
        failures = 0  # passes failed in a row: the lane backs off instead of spinning
        while not self._stopping.is_set():
            try:
                busy = await self.run_once()
                failures = 0
            except Exception as exc:  # a bad pass must not stop the loop; it is retried
                failures += 1
                if failures == 1 and is_row_error(exc):
                    log.exception("worker pass failed")
                else:
                    log.warning(
                        "worker pass failed (%s), %d in a row", type(exc).__name__, failures
                    )
                busy = False
            if not busy and not self._stopping.is_set():
                wait = self.settings.worker_poll_interval
                if failures:
                    wait = max(wait, min(LANE_BACKOFF_MAX_SECONDS, 0.5 * 2 ** (failures - 1)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                if not self._stopping.is_set():  # the stop signal must reach every lane
                    self._wakeup.clear()

    async def run_once(self) -> bool:
        """One pass: route new events into deliveries this worker claims at once, top the
        batch up with deliveries that are due (retries, expired leases), send, record.
        Returns True when there was work (so the loop goes on at once)."""
        if self._stopping.is_set():
            return False
        now = utcnow()
        token = f"{self.worker_id}:{next(self._passes)}"  # one per pass: claims are fenced
        lease = Lease.starting(token, now, self.settings.worker_lease_seconds)
        self.held.add(token)
        try:
            return await self._pass(lease, now)
        finally:
            self.held.discard(token)

    def _route(
        self, dispatcher: Dispatcher, limit: int, lease: Lease, only: list[int] | None = None
    ) -> Callable[..., RoutingSummary]:
        return partial(
            dispatcher.route, limit=limit, lease=lease, only=only, claim_kinds=self.kinds.keys()
        )

    async def _pass(self, lease: Lease, now: datetime) -> bool:
        batch = self.settings.worker_batch_size
        summary = RoutingSummary()
        if self.dispatcher is not None:
            try:
                summary = await run_transaction(
                    self.sessionmaker, self._route(self.dispatcher, batch, lease)
                )
            except Exception as exc:
                if not is_row_error(exc):
                    raise
                summary = await self._route_apart(self.dispatcher, batch, lease)
        for result in ("queued", "skipped", "failed", "duplicate"):
            count = getattr(summary, result)
            if count:
                self.metrics.events_routed.labels(result).inc(count)
        followed = 0
        for follow_up in self.follow_ups:  # before claiming: what they add is due now
            followed += await follow_up()
        claimed = summary.claimed
        if len(claimed) < batch:
            claimed = claimed + await run_transaction(
                self.sessionmaker,
                lambda session: claim_due(
                    session, lease, batch - len(claimed), now, self.kinds.keys()
                ),
            )
        if claimed:
            await self.engine.deliver(claimed, summary.hints, lease.worker_id)
        return bool(summary.routed or claimed or followed)

    async def _route_apart(
        self, dispatcher: Dispatcher, limit: int, lease: Lease
    ) -> RoutingSummary:
        """A batch that cannot be routed holds a row that cannot: route its events one at
        a time, and set aside (``failed``, with the reason) each one that fails, so one
        poison row never stops routing for the others."""
        log.warning("routing a batch failed; routing its events one at a time")
        ids = await run_transaction(
            self.sessionmaker, lambda session: pending_event_ids(session, limit)
        )
        summary = RoutingSummary()
        for event_id in ids:
            try:
                one = await run_transaction(
                    self.sessionmaker, self._route(dispatcher, 1, lease, [event_id])
                )
            except Exception as exc:
                if not is_row_error(exc):
                    raise
                reason = unroutable_reason(exc)
                log.warning("event %s set aside: %s", event_id, reason)
                await run_transaction(
                    self.sessionmaker, partial(set_aside, event_id=event_id, reason=reason)
                )
                summary.add(EventStatus.FAILED)
                continue
            summary.merge(one)
        return summary

    async def drain(self, max_passes: int = 1000) -> None:
        """Run passes until nothing is due now (the CLI's one-shot mode, tests, benchmarks),
        with the same number of batches in flight as ``run``. While the database is
        unreachable a lane waits and tries again, as in ``run`` (``DRAIN_OUTAGE_RETRIES``
        times, backing off up to 30 s); any other failure ends the drain."""

        async def lane() -> None:
            failures = 0
            for _ in range(max_passes):
                try:
                    busy = await self.run_once()
                except Exception as exc:
                    if not is_db_unavailable(exc) or failures >= DRAIN_OUTAGE_RETRIES:
                        raise
                    failures += 1
                    log.warning("worker pass failed (%s); trying again", type(exc).__name__)
                    await asyncio.sleep(min(LANE_BACKOFF_MAX_SECONDS, 0.5 * 2 ** (failures - 1)))
                    continue
                failures = 0
                if not busy:
                    return

        renewing = asyncio.create_task(self._renew_leases(), name="lease-renewal")
        try:
            await asyncio.gather(*(lane() for _ in range(self.settings.worker_batches_in_flight)))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing


async def refresh_queue_metrics(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: Metrics
) -> None:
    async with session_scope(sessionmaker) as session:
        rows = await session.execute(
            select(Delivery.status, func.count())
            .where(
                Delivery.status.in_(
                    [
                        DeliveryStatus.PENDING.value,
                        DeliveryStatus.IN_FLIGHT.value,
                        DeliveryStatus.DEAD.value,
                    ]
                )
            )
            .group_by(Delivery.status)
        )
        counts = dict(rows.all())
        pending_events = (
            await session.execute(
                select(func.count()).where(MarketingEvent.status == EventStatus.PENDING.value)
            )
        ).scalar_one()
    metrics.queue_depth.labels("pending").set(counts.get(DeliveryStatus.PENDING.value, 0))
    metrics.queue_depth.labels("in_flight").set(counts.get(DeliveryStatus.IN_FLIGHT.value, 0))
    metrics.dead_letters.set(counts.get(DeliveryStatus.DEAD.value, 0))
    metrics.pending_events.set(pending_events)

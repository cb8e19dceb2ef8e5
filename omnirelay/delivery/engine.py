"""Sending claimed deliveries of every kind and recording every attempt.

Three phases, so no transaction is open across a request:
1. plan (short read-only transaction): each kind reads what its deliveries need and groups
   them into batches (a relay batch: the events bound for one destination);
2. send (no transaction): prepare each batch's requests, send them concurrently through the
   kind's transport;
3. record (one transaction): requests, attempts, delivery states, and what each kind
   settles (the relay: its events' summary status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from omnirelay.config import Settings
from omnirelay.db import is_db_unavailable, is_row_error, run_transaction, session_scope
from omnirelay.delivery import recording
from omnirelay.delivery.backoff import retry_delay
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.kinds import DeliveryKind, Plan, Registry, WorkBatch
from omnirelay.delivery.recording import BatchReport, SentRequest, redactor_of
from omnirelay.destinations.base import Outcome, PreparedRequest, all_outcomes
from omnirelay.metrics import Metrics
from omnirelay.models.base import utcnow
from omnirelay.redaction import scrub

log = logging.getLogger("omnirelay.worker")
RECORD_RETRY_MAX_SECONDS = 5.0


class DeliveryEngine:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        metrics: Metrics,
        kinds: Registry,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.metrics = metrics
        self.kinds = kinds
        self.stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)

    def _read(self) -> Any:
        return session_scope(self.sessionmaker, read_only=True)

    async def deliver(
        self,
        deliveries: list[ClaimedDelivery],
        hints: Mapping[str, Any] | None = None,
        holder: str | None = None,
    ) -> BatchReport:
        """Send and record claimed deliveries. ``hints``, by kind, is what the routing pass
        that created them has read already (not read again). ``holder`` is the lease token
        they were claimed under: recording changes only what it still holds."""
        report = BatchReport()
        hints = hints or {}
        by_kind: dict[str, list[ClaimedDelivery]] = defaultdict(list)
        for delivery in deliveries:
            by_kind[delivery.kind].append(delivery)
        plans: dict[str, tuple[DeliveryKind, list[ClaimedDelivery], Plan]] = {}
        try:
            for name, members in by_kind.items():
                kind = self.kinds.get(name)
                if kind is None:  # not a kind this worker works: another worker will
                    report.released.extend(d.id for d in members)
                    continue
                plan = await self._plan(kind, members, hints.get(name), report)
                plans[name] = (kind, members, plan)
            await asyncio.gather(
                *(
                    self._send_batch(kind, batch, report)
                    for kind, _, plan in plans.values()
                    for batch in plan.batches
                )
            )
        finally:
            # Whatever happened above, what was sent is recorded, and each batch's failure
            # is an outcome of that batch's deliveries alone (see _send_batch and _send).
            await self._record(deliveries, report, plans, holder)
        return report

    async def _plan(
        self, kind: DeliveryKind, members: list[ClaimedDelivery], hint: Any, report: BatchReport
    ) -> Plan:
        try:
            plan = await kind.plan(members, hint, self._read)
        except Exception as exc:  # one kind's failure is its deliveries' outcome alone
            if is_db_unavailable(exc):  # nothing was tried: they go back, not charged
                report.released.extend(d.id for d in members)
            else:
                log.warning("%s: planning a batch failed: %s", kind.name, type(exc).__name__)
                error = f"could not read what the delivery needs: {type(exc).__name__}"
                report.decided |= {d.id: (Outcome.RETRY.value, error) for d in members}
            return Plan()
        report.decided |= plan.decided
        return plan

    async def _send_batch(self, kind: DeliveryKind, batch: WorkBatch, report: BatchReport) -> None:
        """Prepare and send; a request refused as a whole (SPLIT) is sent again in halves.

        When preparing raises (a bug, a payload it cannot handle, a dead preparing process
        that fails again inline), the batch is prepared again in halves until the item
        that makes it fail stands alone: that one is retried later with the error, and
        the others go out now."""
        try:
            prepared = await kind.prepare(batch)
        except Exception as exc:
            if len(batch.items) > 1:
                half = len(batch.items) // 2
                await asyncio.gather(
                    self._send_batch(kind, batch.with_items(batch.items[:half]), report),
                    self._send_batch(kind, batch.with_items(batch.items[half:]), report),
                )
                return
            log.warning("%s: preparing a request failed: %s", batch.code, type(exc).__name__)
            error = f"could not prepare the request: {type(exc).__name__}: {exc}"
            error = scrub(error, list(batch.secrets)) or error
            for item in batch.items:
                report.decided[item.delivery_id] = (Outcome.RETRY.value, error[:500])
            return
        for outcome in prepared.rejected:
            report.decided[outcome.delivery_id] = (Outcome.PERMANENT.value, outcome.error)
        await asyncio.gather(
            *(self._send(kind, batch, request, report) for request in prepared.requests)
        )

    async def _send(
        self, kind: DeliveryKind, batch: WorkBatch, request: PreparedRequest, report: BatchReport
    ) -> None:
        async with self._slots:
            if self.stopping.is_set():
                report.released.extend(request.delivery_ids)
                return
            try:
                body = request.body_bytes() if request.has_body else None
                built = kind.transport.build(request, body)
            except Exception as exc:  # never on the wire: nothing to send again blindly
                error = f"request could not be built: {type(exc).__name__}: {exc}"
                outcome = Outcome.PERMANENT.value
                for delivery_id in request.delivery_ids:
                    report.decided[delivery_id] = (outcome, redactor_of(request).scrub(error))
                return
            started = time.perf_counter()
            result = await kind.transport.send(built)
            duration = time.perf_counter() - started
        try:
            outcomes = kind.classify(batch, request, result)
        except Exception as exc:  # the request went out: record it, retry its deliveries
            error = f"could not read the answer: {type(exc).__name__}: {exc}"
            outcomes = all_outcomes(request, Outcome.RETRY, error)
        self.metrics.attempt_seconds.labels(batch.code).observe(duration)
        report.sent.append(
            SentRequest(batch.code, request, result, int(duration * 1000), outcomes, body)
        )
        resend = {o.delivery_id for o in outcomes if o.outcome == Outcome.RESEND}
        if resend and len(resend) < len(request.delivery_ids):
            # the platform refused the request because of the items it named; the others
            # were not processed and go out again now, not charged an attempt
            items = [i for i in batch.items if i.delivery_id in resend]
            await self._send_batch(kind, batch.with_items(items), report)
        stepped = {o.delivery_id for o in outcomes if o.outcome == Outcome.NEXT_STEP}
        if stepped:  # the kind knows each delivery's steps, and when they end
            items = [i for i in batch.items if i.delivery_id in stepped]
            await self._send_batch(kind, batch.with_items(items), report)
        refused = {o.delivery_id for o in outcomes if o.outcome == Outcome.SPLIT}
        if refused:
            items = [i for i in batch.items if i.delivery_id in refused]
            half = len(items) // 2
            await asyncio.gather(
                *(
                    self._send_batch(kind, batch.with_items(part), report)
                    for part in (items[:half], items[half:])
                    if part
                )
            )

    async def _record(
        self,
        deliveries: list[ClaimedDelivery],
        report: BatchReport,
        plans: Mapping[str, tuple[DeliveryKind, list[ClaimedDelivery], Plan]],
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
            holder=holder,
        )

        def write(session: Session) -> None:
            record.write(session)
            for kind, members, plan in plans.values():
                kind.settle(session, record, members, plan.context)

        # What was sent must be recorded: a lost deadlock is run again, and while the
        # database is unreachable the write waits and tries again (the lease renewal keeps
        # the claim), never dropped, so the batch is not sent a second time.
        delay = 0.5
        while True:
            try:
                await run_transaction(self.sessionmaker, write)
                break
            except Exception as exc:
                if is_row_error(exc):  # a kind's settling (or a bug) refused: see below
                    await self._record_apart(record, plans, exc)
                    break
                # on shutdown the wait is bounded: the lease then runs out and the batch is
                # claimed again, rather than the process never stopping during an outage
                if self.stopping.is_set() and delay >= RECORD_RETRY_MAX_SECONDS:
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

    async def _record_apart(
        self,
        record: recording.BatchRecord,
        plans: Mapping[str, tuple[DeliveryKind, list[ClaimedDelivery], Plan]],
        error: Exception,
    ) -> None:
        """The pass's outcomes written without its kinds' settling, each kind then settled
        in a transaction of its own: what was sent stays recorded (it is not sent again)
        when one kind's settling fails on a row, and the other kinds still settle. When
        the outcomes themselves cannot be written, the error is raised."""
        log.error("recording a pass failed on a row (%s); recording it apart", type(error).__name__)
        await run_transaction(self.sessionmaker, record.write)
        for kind, members, plan in plans.values():
            settle = partial(kind.settle, record=record, deliveries=members, context=plan.context)
            try:
                await run_transaction(self.sessionmaker, settle)
            except Exception as exc:
                log.exception(
                    "%s: settling %d deliveries failed (%s)",
                    kind.name,
                    len(members),
                    type(exc).__name__,
                )

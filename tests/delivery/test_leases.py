"""Leases: a send that outlasts its lease keeps its claim; recording is fenced."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from omnirelay.db import run_transaction
from omnirelay.delivery.claim import Lease, claim_due
from omnirelay.models.base import utcnow
from omnirelay.pipeline import create_worker, dispatcher
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    attempts,
    customer_event,
    deliveries,
    post_events,
)


async def test_a_batch_that_takes_longer_than_the_lease_is_sent_once(
    client, sessionmaker, worker, sandbox_http, app
) -> None:
    worker.settings.worker_lease_seconds = 0.3
    worker.settings.worker_batches_in_flight = 2
    other = create_worker(
        app.state.settings, sessionmaker, app.state.vault, app.state.metrics, client=sandbox_http
    )
    await add_storefront(client)
    await add_platform(client, "meta")
    SANDBOX.faults["meta"] = FaultConfig(delay_ms=1500)  # five leases long
    await post_events(client, [customer_event(n) for n in range(3)])
    sending = asyncio.create_task(worker.drain())
    while not SANDBOX.recorded("meta"):  # the request is on the wire
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.9)  # three leases later: still held, renewed
    await other.run_once()  # another worker looks for due work
    await sending

    assert len(SANDBOX.recorded("meta")) == 1
    assert {(d.status, d.attempt_count) for d in await deliveries(sessionmaker)} == {
        ("delivered", 1)
    }
    assert [a.attempt_number for a in await attempts(sessionmaker)] == [1, 1, 1]


async def test_recording_changes_only_what_the_worker_still_holds(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(1)])
    # route without sending, then claim under a lease that another worker then takes over
    await run_transaction(sessionmaker, lambda s: dispatcher().route(s, 10))
    now = utcnow()
    first = Lease.starting("first:1", now, 60)
    claimed = await run_transaction(sessionmaker, lambda s: claim_due(s, first, 10, now))
    later = now + timedelta(seconds=120)
    second = Lease.starting("second:1", later, 60)
    taken = await run_transaction(sessionmaker, lambda s: claim_due(s, second, 10, later))
    assert [d.id for d in taken] == [d.id for d in claimed]

    await worker.engine.deliver(claimed, holder="first:1")  # the first worker's late answer
    [row] = await deliveries(sessionmaker)
    assert (row.status, row.claimed_by, row.attempt_count) == ("in_flight", "second:1", 0)
    [audit] = await attempts(sessionmaker)  # what was sent is still in the audit
    assert audit.status == "delivered"

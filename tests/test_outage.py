"""The database goes away and comes back: the API answers 503 with Retry-After meanwhile
(never 500, never a 2xx for what was not stored) and recovers on its own.

The outage is made by a TcpProxy between the service and the database server (the shared
servers are never stopped), so these tests run on the server backends only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from omnirelay.app import create_app
from omnirelay.config import Settings
from omnirelay.db import create_engine, create_sessionmaker
from omnirelay.models import MarketingEvent
from tests.conftest import AUTH, server_backends
from tests.factories import create_storefronts, envelope, order_event
from tests.tcp_proxy import TcpProxy

pytestmark = server_backends


@pytest.fixture
async def outage_app(proxied_settings: Settings) -> AsyncIterator[Any]:
    application = create_app(proxied_settings, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def outage_client(outage_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: an unhandled error is seen as the 500 a client would get.
    transport = httpx.ASGITransport(app=outage_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://omnirelay", auth=AUTH
    ) as http:
        yield http


async def stored_order_ids(db_url: str) -> list[str]:
    """Every stored event's order id, read past the proxy (duplicates would show twice)."""
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(select(MarketingEvent.event_id))
            return sorted(row[0] for row in rows)
    finally:
        await engine.dispose()


async def count_events(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return int((await session.execute(select(func.count(MarketingEvent.id)))).scalar_one())
    finally:
        await engine.dispose()


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "database_unavailable"
    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize("stop_listening", [False, True], ids=["hang-up", "refused"])
async def test_post_during_outage_answers_503_then_the_same_batch_is_accepted(
    outage_client: httpx.AsyncClient,
    db_proxy: TcpProxy,
    db_url: str,
    stop_listening: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await create_storefronts(outage_client, "bosley")
    first = envelope([order_event(n) for n in range(3)])
    assert (await outage_client.post("/v1/events", json=first)).status_code == 200
    batch = envelope([order_event(n) for n in range(3, 8)])

    with caplog.at_level(logging.WARNING, logger="omnirelay"):
        async with db_proxy.outage(stop_listening=stop_listening):
            during = await outage_client.post("/v1/events", json=batch)
            storefronts = await outage_client.get("/admin/v1/storefronts")
            assert await count_events(db_url) == 3  # nothing of the 503 batch was stored

    assert_database_unavailable(during)
    assert_database_unavailable(storefronts)
    warnings = [r for r in caplog.records if r.name == "omnirelay"]
    assert warnings and all(r.levelno == logging.WARNING and not r.exc_info for r in warnings)
    assert all("database unavailable" in r.getMessage() for r in warnings)

    again = await outage_client.post("/v1/events", json=batch)
    assert again.status_code == 200, again.text
    assert again.json()["accepted"] == 5
    assert await stored_order_ids(db_url) == sorted(order_event(n)["order_id"] for n in range(8))


async def test_connections_dropped_mid_pool_are_replaced(
    outage_client: httpx.AsyncClient, db_proxy: TcpProxy, db_url: str
) -> None:
    """Pooled connections broken behind the service's back (no outage of new ones) cost no
    request: the pre-ping notices and connects again."""
    await create_storefronts(outage_client, "bosley")
    assert (await outage_client.post("/v1/events", json=envelope([order_event(1)]))).is_success
    assert db_proxy.drop_connections() >= 1
    response = await outage_client.post("/v1/events", json=envelope([order_event(2)]))
    assert response.status_code == 200, response.text
    assert await count_events(db_url) == 2


async def test_readiness_follows_the_database(
    outage_client: httpx.AsyncClient, db_proxy: TcpProxy
) -> None:
    assert (await outage_client.get("/health/ready")).status_code == 200
    async with db_proxy.outage():
        during = await outage_client.get("/health/ready")
    assert during.status_code == 503
    after = await outage_client.get("/health/ready")
    assert after.status_code == 200, after.text


async def test_concurrent_posters_through_an_outage(
    outage_client: httpx.AsyncClient, db_proxy: TcpProxy, db_url: str
) -> None:
    """Posters keep sending while the connections are dropped and refused for a while:
    every answer is 200 or 503, everything answered 200 is stored, and after the 503
    batches are posted again each event is stored exactly once."""
    await create_storefronts(outage_client, "bosley", "pfizer")
    numbers = itertools.count()
    statuses: list[int] = []
    failed: list[dict[str, Any]] = []
    accepted_ids: list[str] = []
    outage_over = asyncio.Event()
    saw_503 = asyncio.Event()

    def next_batch(poster: int) -> dict[str, Any]:
        storefront = ("bosley", "pfizer")[poster % 2]
        return envelope([order_event(next(numbers), storefront=storefront) for _ in range(20)])

    async def post(batch: dict[str, Any]) -> int:
        response = await outage_client.post("/v1/events", json=batch)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json()["rejected"] == []
            accepted_ids.extend(item["order_id"] for item in batch["data"])
        elif response.status_code == 503:
            assert_database_unavailable(response)
            saw_503.set()
        return response.status_code

    async def poster(index: int) -> None:
        sent = 0
        # Keep posting until the outage is over and a few more batches went through.
        while not outage_over.is_set() or sent < 3:
            batch = next_batch(index)
            if await post(batch) == 503:
                failed.append(batch)
            elif outage_over.is_set():
                sent += 1
            await asyncio.sleep(0.01)

    async def cut_off() -> None:
        while len(statuses) < 8:  # some traffic before the outage
            await asyncio.sleep(0.01)
        db_proxy.drop_connections()
        async with db_proxy.outage():
            await asyncio.sleep(1.0)
            db_proxy.drop_connections()
            await db_proxy.refuse(stop_listening=True)
            await asyncio.sleep(1.0)
            # the outage lasts until the posters have met it at least once
            await asyncio.wait_for(saw_503.wait(), timeout=30)
        outage_over.set()

    await asyncio.gather(cut_off(), *(poster(i) for i in range(4)))

    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses and 200 in statuses
    # Everything answered 200 is stored. A 503 says "not known to be stored": when the
    # connection drops after the COMMIT reached the server, that batch is stored though
    # its answer never came, so the client posts it again and dedup keeps each event once.
    stored_before_retry = await stored_order_ids(db_url)
    answered_503 = {item["order_id"] for batch in failed for item in batch["data"]}
    assert set(accepted_ids) <= set(stored_before_retry)
    assert set(stored_before_retry) - set(accepted_ids) <= answered_503

    # The client's retry: every batch answered 503 is posted again and accepted now.
    for batch in failed:
        response = await outage_client.post("/v1/events", json=batch)
        assert response.status_code == 200, response.text
        accepted_ids.extend(item["order_id"] for item in batch["data"])
    assert await stored_order_ids(db_url) == sorted(set(accepted_ids))  # each event once


async def test_an_outage_while_a_batch_is_on_the_wire_sends_no_copy(
    outage_app: Any, outage_client: httpx.AsyncClient, db_proxy: TcpProxy, db_url: str
) -> None:
    from omnirelay.pipeline import create_worker
    from omnirelay.sandbox.app import create_sandbox_app
    from omnirelay.sandbox.core import SANDBOX, FaultConfig
    from tests.delivery.helpers import add_platform, add_storefront, customer_event, post_events

    SANDBOX.reset()
    await add_storefront(outage_client)
    await add_platform(outage_client, "meta")
    await post_events(outage_client, [customer_event(n) for n in range(20)])
    SANDBOX.faults["meta"] = FaultConfig(delay_ms=400)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_sandbox_app()), base_url="http://sandbox"
    ) as sandbox:
        state = outage_app.state
        worker = create_worker(
            state.settings, state.sessionmaker, state.vault, state.metrics, client=sandbox
        )
        sending = asyncio.create_task(worker.drain())
        # every event on the wire before the outage begins: the worker's lanes may route
        # them as more than one batch, and a lane whose routing the outage cuts off keeps
        # its claim until the lease runs out, which is another case than this test's
        while (
            not sending.done() and sum(len(r.body["data"]) for r in SANDBOX.recorded("meta")) < 20
        ):
            await asyncio.sleep(0.01)
        async with db_proxy.outage():  # the answer comes back while the database is gone
            await asyncio.sleep(1.0)
        await sending
        await worker.drain()  # nothing is due again: the outcome was written after the outage
        await worker.close()
    engine = create_engine(db_url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT status, attempt_count FROM event_deliveries"))
        ).all()
    await engine.dispose()
    assert {tuple(r) for r in rows} == {("delivered", 1)} and len(rows) == 20
    # no copy: each event went out once, however the worker split them into requests
    sent = [e["event_id"] for r in SANDBOX.recorded("meta") for e in r.body["data"]]
    assert len(sent) == 20 and len(set(sent)) == 20
    SANDBOX.reset()

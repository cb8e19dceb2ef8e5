"""Delivery: every figure measured side by side in one run, against the sandbox server.

(a) Meta, batched: a backlog of events with customer data, pending -> delivered (attempts
    recorded), beside the official facebook-business SDK's BatchProcessor (batch 1000,
    4 concurrent) posting the same events to the same sandbox endpoint.
(b) GA4, one request per event: omnirelay beside plain HTTP posts of the same bodies.
(c) Sandbox answering after 50 ms, each worker's concurrency capped: 4 worker processes on
    PostgreSQL beside 1, and every event sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text

from bench.common import (
    KEY,
    fresh_database,
    process,
    rate,
    report,
    sandbox_server,
    scaled,
    service_env,
)
from omnirelay.config import Settings
from omnirelay.db import create_engine, create_sessionmaker, session_scope
from omnirelay.destinations.base import DestinationTarget, OutboundEvent
from omnirelay.destinations.ga4 import Ga4MeasurementProtocol
from omnirelay.metrics import Metrics
from omnirelay.models import (
    AdAnalyticsPlatform,
    Delivery,
    DeliveryStatus,
    PlatformCredential,
    Storefront,
)
from omnirelay.pipeline import create_worker
from omnirelay.relay.ingest_service import judge_items, store_batch
from omnirelay.security import Vault
from omnirelay.tuning import tune_for_throughput

CREDENTIALS = {
    "meta": {"pixel_id": "1234567890", "access_token": "bench-meta-token"},
    "ga4": {"measurement_id": "G-BENCH1234", "api_secret": "bench-ga4-secret"},
}


def customer_payload(n: int) -> dict[str, Any]:
    when = (datetime.now(UTC) - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    return {
        "t-value": "bosleyaffiliate_0123",
        "storefront_id": "bosley",
        "event_name": "purchase_completed",
        "event_time": when,
        "order_id": f"B{n:010d}",
        "order_revenue": 80.79,
        "currency": "USD",
        "session_id": f"sess_{n}",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "bosley_q1",
        "email": f"customer{n}@example.com",
        "phone": f"+1650555{n % 10000:04d}",
        "first_name": "Jane",
        "last_name": "Doe",
        "city": "Palo Alto",
        "state": "CA",
        "zip": "94301",
        "country": "US",
        "external_id": f"cust-{n}",
        "client_ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "page_url": "https://shop.example.com/checkout",
    }


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        encryption_key=KEY,
        basic_auth_username="bench",
        basic_auth_password="bench-password",
        omnirelay_env="test",
        outbound_allow="127.0.0.1",  # the sandbox server
        **overrides,
    )


async def prepare_backlog(
    url: str, platform: str, sandbox: str, payloads: list[dict[str, Any]]
) -> None:
    """Storefront, one credential pointing at the sandbox, and the events, all pending."""
    engine = create_engine(url)
    factory = create_sessionmaker(engine)
    vault = Vault([KEY])
    async with session_scope(factory) as session:
        storefront = Storefront(code="bosley", name="Bosley")
        session.add(storefront)
        await session.flush()
        platform_row = (
            await session.execute(
                select(AdAnalyticsPlatform).where(AdAnalyticsPlatform.platform_code == platform)
            )
        ).scalar_one()
        session.add(
            PlatformCredential(
                storefront_id=storefront.id,
                platform_id=platform_row.id,
                credentials_encrypted=vault.encrypt(CREDENTIALS[platform]),
                settings={"base_url": f"{sandbox}/{platform}"},
            )
        )
    for start in range(0, len(payloads), 1000):
        async with session_scope(factory) as session:
            result = await store_batch(session, judge_items(payloads[start : start + 1000]))
            assert result.accepted == len(payloads[start : start + 1000]), result
    await engine.dispose()


async def delivered_count(factory: Any) -> int:
    async with factory() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).where(Delivery.status == DeliveryStatus.DELIVERED.value)
                )
            ).scalar_one()
        )


@contextlib.contextmanager
def service_tuning() -> Iterator[None]:
    """The interpreter settings ``omnirelay worker`` runs with, for the in-process worker
    only: the clients it is compared with run, as their users would, with the defaults."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    tune_for_throughput()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


async def omnirelay_in_process(url: str, count: int, **overrides: Any) -> float:
    """Seconds for one in-process worker to take the backlog from pending to delivered."""
    settings = settings_for(url, **overrides)
    engine = create_engine(url)
    factory = create_sessionmaker(engine)
    worker = create_worker(settings, factory, Vault([KEY]), Metrics())
    await worker.start()  # as `omnirelay worker` does at start-up
    with service_tuning():
        started = time.perf_counter()
        await worker.drain(max_passes=100_000)
        elapsed = time.perf_counter() - started
    delivered = await delivered_count(factory)
    await worker.close()
    await engine.dispose()
    assert delivered == count, f"{delivered} of {count} delivered"
    return elapsed


def sdk_meta(sandbox: str, payloads: list[dict[str, Any]]) -> float:
    """What a user would write with the official SDK, timed from payloads to all sent."""
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.batch_processor import BatchProcessor
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.event_request_async import EventRequestAsync
    from facebook_business.adobjects.serverside.user_data import UserData
    from facebook_business.api import FacebookAdsApi
    from facebook_business.session import FacebookSession

    FacebookAdsApi.init(access_token=CREDENTIALS["meta"]["access_token"])
    FacebookSession.GRAPH = f"{sandbox}/meta"
    started = time.perf_counter()
    events = [
        Event(
            event_name="Purchase",
            event_time=int(
                datetime.fromisoformat(p["event_time"].replace("Z", "+00:00")).timestamp()
            ),
            event_id=p["order_id"],
            action_source=ActionSource.WEBSITE,
            event_source_url=p["page_url"],
            user_data=UserData(
                email=p["email"],
                phone=p["phone"].lstrip("+"),
                first_name=p["first_name"].lower(),
                last_name=p["last_name"].lower(),
                city=p["city"].lower().replace(" ", ""),
                state=p["state"].lower(),
                zip_code=p["zip"],
                country_code=p["country"].lower(),
                external_id=p["external_id"],
                client_ip_address=p["client_ip_address"],
                client_user_agent=p["user_agent"],
            ),
            custom_data=CustomData(
                value=p["order_revenue"], currency=p["currency"].lower(), order_id=p["order_id"]
            ),
        )
        for p in payloads
    ]
    template = EventRequestAsync(pixel_id=CREDENTIALS["meta"]["pixel_id"], events=[])
    BatchProcessor(batch_size=1000, concurrent_requests=4).process_events(template, events)
    return time.perf_counter() - started


async def sandbox_requests(sandbox: str, platform: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            (
                await client.get(
                    f"{sandbox}/_sandbox/requests",
                    params={"platform": platform, "limit": 1_000_000},
                )
            ).json()["requests"]
        )


async def reset_sandbox(sandbox: str) -> None:
    async with httpx.AsyncClient() as client:
        await client.delete(f"{sandbox}/_sandbox/requests")


async def bench_meta(sandbox: str, rounds: int = 3) -> None:
    """Both sides ``rounds`` times, alternating, each on the same events; the median of
    each side is reported (one run on this shared 2-core machine varies by +-15%)."""
    count = scaled(10_000)
    payloads = [customer_payload(n) for n in range(count)]
    ours_runs, sdk_runs = [], []
    for _ in range(rounds):
        async with fresh_database("sqlite") as database:
            await reset_sandbox(sandbox)
            await prepare_backlog(database.url, "meta", sandbox, payloads)
            ours_runs.append(await omnirelay_in_process(database.url, count))
        sent = await sandbox_requests(sandbox, "meta")
        assert sum(len(r["body"]["data"]) for r in sent) == count and all(
            r["response_status"] == 200 for r in sent
        )
        await reset_sandbox(sandbox)
        sdk_runs.append(await asyncio.to_thread(sdk_meta, sandbox, payloads))
        sdk_sent = await sandbox_requests(sandbox, "meta")
        assert all(r["response_status"] == 200 for r in sdk_sent), sdk_sent[0]["response_body"]
    ours, theirs = statistics.median(ours_runs), statistics.median(sdk_runs)
    report(
        f"(a) Meta CAPI, batched: {count:,} events with customer data (SQLite), "
        f"median of {rounds} alternating runs",
        [
            ("omnirelay: pending -> delivered, attempts recorded", rate(count, ours)),
            ("facebook-business SDK BatchProcessor(1000, 4)", rate(count, theirs)),
        ],
        "omnirelay / SDK",
        theirs / ours,
        ">= 2",
    )
    runs = ", ".join(
        f"{rate(count, o):,.0f}/{rate(count, t):,.0f}"
        for o, t in zip(ours_runs, sdk_runs, strict=True)
    )
    print(f"  {'each run (omnirelay/SDK events/s)':<52} {runs}")


async def plain_posts(bodies: list[tuple[str, bytes]], concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(
        max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2
    )
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def post(url: str, body: bytes) -> None:
            async with slots:
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                assert response.status_code < 300

        started = time.perf_counter()
        await asyncio.gather(*(post(url, body) for url, body in bodies))
        return time.perf_counter() - started


def ga4_bodies(sandbox: str, payloads: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    destination = Ga4MeasurementProtocol()
    target = DestinationTarget(
        credentials=CREDENTIALS["ga4"], settings={"base_url": f"{sandbox}/ga4"}
    )
    events = [
        OutboundEvent(
            delivery_id=n,
            event_id=p["order_id"],
            event_type="purchase_completed",
            destination_event_name="purchase",
            event_time=datetime.fromisoformat(p["event_time"].replace("Z", "+00:00")),
            storefront_code="bosley",
            payload=p,
        )
        for n, p in enumerate(payloads)
    ]
    prepared = destination.prepare(events, target)
    return [(r.url, r.body_bytes()) for r in prepared.requests]


async def bench_ga4(sandbox: str) -> None:
    count = scaled(3_000)
    concurrency = 16
    payloads = [customer_payload(n) for n in range(count)]
    async with fresh_database("sqlite") as database:
        await reset_sandbox(sandbox)
        await prepare_backlog(database.url, "ga4", sandbox, payloads)
        ours = await omnirelay_in_process(database.url, count, worker_concurrency=concurrency)
    bodies = ga4_bodies(sandbox, payloads)
    plain = await plain_posts(bodies, concurrency)
    report(
        f"(b) GA4 Measurement Protocol, one request per event: {count:,} events, {concurrency} in flight (SQLite)",
        [
            ("omnirelay: pending -> delivered, attempts recorded", rate(count, ours)),
            ("plain httpx posts of the same bodies", rate(count, plain)),
        ],
        "omnirelay / plain HTTP",
        plain / ours,
        ">= 0.5",
    )


async def workers_connected(factory: Any, processes: int, timeout: float = 120) -> None:
    """Wait until every worker process has booted and polls the database (interpreter
    start-up costs seconds of CPU on this machine and must not fall into the timing)."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(DISTINCT pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    while time.monotonic() < deadline:
        async with factory() as session:
            if (await session.execute(query)).scalar_one() >= processes:
                await asyncio.sleep(1.0)
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("worker processes did not start")


async def worker_processes(
    sandbox: str,
    platform: str,
    processes: int,
    payloads: list[dict[str, Any]],
    fault: dict[str, Any] | None = None,
    **settings: str,
) -> tuple[float, list[dict[str, Any]]]:
    """Seconds for ``processes`` worker processes on PostgreSQL to deliver a backlog that
    appears at once (timed from its commit), and what the sandbox received."""
    async with fresh_database("postgresql") as database:
        await reset_sandbox(sandbox)
        if fault:
            async with httpx.AsyncClient() as client:
                await client.put(f"{sandbox}/_sandbox/faults/{platform}", json=fault)
        await prepare_backlog(database.url, platform, sandbox, [])
        env = service_env(database.url, WORKER_POLL_INTERVAL="0.5", **settings)
        engine = create_engine(database.url)
        factory = create_sessionmaker(engine)
        procs = [process(["omnirelay.cli", "worker"], env) for _ in range(processes)]
        for proc in procs:
            proc.__enter__()
        try:
            await workers_connected(factory, processes)
            async with session_scope(factory) as session:
                for start in range(0, len(payloads), 1000):
                    await store_batch(session, judge_items(payloads[start : start + 1000]))
            started = time.perf_counter()
            while await delivered_count(factory) < len(payloads):
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            for proc in procs:
                proc.__exit__(None, None, None)
            await engine.dispose()
    return elapsed, await sandbox_requests(sandbox, platform)


def ga4_sends(requests: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["body"]["events"][0]["params"]["transaction_id"] for r in requests)


async def bench_scale_out(sandbox: str) -> None:
    count = scaled(800)
    concurrency = 2
    payloads = [customer_payload(n) for n in range(count)]
    fault = {"kind": "none", "delay_ms": 50}
    cap = {"WORKER_CONCURRENCY": str(concurrency), "WORKER_BATCH_SIZE": str(concurrency * 4)}
    try:
        one, requests_one = await worker_processes(sandbox, "ga4", 1, payloads, fault, **cap)
        four, requests_four = await worker_processes(sandbox, "ga4", 4, payloads, fault, **cap)
    finally:
        await reset_sandbox(sandbox)
    sent_one, sent_four = ga4_sends(requests_one), ga4_sends(requests_four)
    duplicates = sum(c - 1 for c in sent_one.values()) + sum(c - 1 for c in sent_four.values())
    assert len(sent_one) == count and len(sent_four) == count
    report(
        f"(c) scale-out on PostgreSQL: {count:,} GA4 events, sandbox answers after 50 ms, {concurrency} in flight per worker",
        [("1 worker process", rate(count, one)), ("4 worker processes", rate(count, four))],
        "4 workers / 1 worker",
        one / four,
        ">= 3",
    )
    print(f"  {'duplicate sends (both runs)':<52} {duplicates:>10}   (target 0)")


async def main() -> None:
    with sandbox_server() as sandbox:
        from bench.common import wait_until_up

        await wait_until_up(f"{sandbox}/_sandbox/faults")
        await bench_meta(sandbox)
        await bench_ga4(sandbox)
        await bench_scale_out(sandbox)


if __name__ == "__main__":
    asyncio.run(main())

"""Ingest: batches of 1,000 seed-shaped events over HTTP to a running server, beside the
same rows inserted straight through the same database driver, in the same run."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
import orjson

from bench.common import (
    AUTH,
    Database,
    free_port,
    fresh_database,
    process,
    rate,
    report,
    scaled,
    service_env,
    wait_until_up,
)

BATCH = 1000
SENDERS = 2
COLUMNS = (
    "event_id",
    "storefront_id",
    "storefront_code",
    "event_type",
    "event_payload",
    "source_system",
    "status",
    "user_id",
    "event_time",
    "received_at",
    "updated_at",
)


def seed_item(n: int, prefix: str) -> dict[str, Any]:
    return {
        "t-value": "bosleyaffiliate_0123",
        "storefront_id": "bosley",
        "event_name": ("consult_started", "rx_issued", "purchase_completed")[n % 3],
        "event_time": "2026-01-15T10:25:00Z",
        "order_id": f"{prefix}{n:010d}",
        "order_created_date": "2026-01-15T10:25:00Z",
        "order_ship_date": "2026-01-15T10:25:00Z",
        "order_revenue": 80.79,
        "session_id": f"sess_{n}",
        "utm_source": "google",
        "utm_medium": "organic",
        "utm_campaign": "bosley_q1",
    }


def batches(count: int, prefix: str) -> list[list[dict[str, Any]]]:
    items = [seed_item(n, prefix) for n in range(count)]
    return [items[i : i + BATCH] for i in range(0, count, BATCH)]


async def create_storefront(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, auth=AUTH) as client:
        response = await client.post(
            "/admin/v1/storefronts", json={"storefront_id": "bosley", "name": "Bosley"}
        )
        response.raise_for_status()


async def http_ingest(base: str, work: list[list[dict[str, Any]]]) -> float:
    bodies = [
        orjson.dumps(
            {
                "count": len(b),
                "data": b,
                "error": "",
                "next_index": "",
                "next_url": "",
                "previous_index": "",
                "previous_url": "",
            }
        )
        for b in work
    ]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(
                "/v1/events", content=body, headers={"content-type": "application/json"}
            )
            response.raise_for_status()
            assert response.json()["accepted"] == BATCH, response.text

    async with httpx.AsyncClient(base_url=base, auth=AUTH, timeout=120) as client:
        await client.post(
            "/v1/events", content=b'{"data": []}', headers={"content-type": "application/json"}
        )  # warm the connection
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(SENDERS)))
        return time.perf_counter() - started


def driver_rows(
    work: list[list[dict[str, Any]]], storefront_id: int
) -> list[list[tuple[Any, ...]]]:
    now = datetime.now(UTC)
    event_time = datetime(2026, 1, 15, 10, 25, tzinfo=UTC)
    return [
        [
            (
                item["order_id"],
                storefront_id,
                "bosley",
                item["event_name"],
                orjson.dumps(item).decode(),
                "oms",
                "pending",
                None,
                event_time,
                now,
                now,
            )
            for item in batch
        ]
        for batch in work
    ]


async def raw_postgresql(url: str, rows: list[list[tuple[Any, ...]]]) -> float:
    connection = await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgres://").replace("postgresql://", "postgres://")
    )
    placeholders = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    sql = (
        f"INSERT INTO marketing_events ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
        "ON CONFLICT (storefront_id, event_type, event_id) DO NOTHING"
    )
    try:
        started = time.perf_counter()
        for batch in rows:
            async with connection.transaction():
                await connection.executemany(sql, batch)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def raw_sqlite(url: str, rows: list[list[tuple[Any, ...]]]) -> float:
    path = url.split(":///", 1)[1]
    sql = (
        f"INSERT INTO marketing_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        "ON CONFLICT (storefront_id, event_type, event_id) DO NOTHING"
    )
    as_text = [
        [
            row[:8] + tuple(v.replace(tzinfo=None).isoformat(sep=" ") for v in row[8:])
            for row in batch
        ]
        for batch in rows
    ]
    async with aiosqlite.connect(Path(path)) as connection:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            await connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        for batch in as_text:
            await connection.executemany(sql, batch)
            await connection.commit()
        return time.perf_counter() - started


async def storefront_id(database: Database) -> int:
    if database.name == "postgresql":
        connection = await asyncpg.connect(database.url.replace("postgresql://", "postgres://"))
        try:
            return int(
                await connection.fetchval(
                    "SELECT id FROM storefronts WHERE storefront_id = 'bosley'"
                )
            )
        finally:
            await connection.close()
    async with aiosqlite.connect(database.url.split(":///", 1)[1]) as connection:
        cursor = await connection.execute(
            "SELECT id FROM storefronts WHERE storefront_id = 'bosley'"
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def run_one(kind: str, events: int) -> tuple[float, float]:
    async with fresh_database(kind) as database:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = service_env(database.url)
        with process(["omnirelay.cli", "serve", "--no-worker", "--port", str(port)], env):
            await wait_until_up(f"{base}/health")
            await create_storefront(base)
            http_seconds = await http_ingest(base, batches(events, "H"))
        rows = driver_rows(batches(events, "D"), await storefront_id(database))
        raw = raw_postgresql if kind == "postgresql" else raw_sqlite
        raw_seconds = await raw(database.url, rows)
    return rate(events, http_seconds), rate(events, raw_seconds)


async def main(rounds: int = 3) -> None:
    """Each database ``rounds`` times; the median of each side is reported (one run on this
    shared 2-core machine varies by +-15%)."""
    events = scaled(20_000)
    for kind in ("sqlite", "postgresql"):
        runs = [await run_one(kind, events) for _ in range(rounds)]
        http_rate = statistics.median(h for h, _ in runs)
        raw_rate = statistics.median(r for _, r in runs)
        report(
            f"ingest on {kind}: {events:,} events in batches of {BATCH} ({SENDERS} concurrent "
            f"HTTP senders), median of {rounds} runs",
            [
                ("POST /v1/events (HTTP, validation, dedup, commit)", http_rate),
                ("raw driver executemany, same rows, same database", raw_rate),
            ],
            "HTTP / raw driver",
            http_rate / raw_rate,
            ">= 0.33",
        )
        each = ", ".join(f"{h:,.0f}/{r:,.0f}" for h, r in runs)
        print(f"  {'each run (HTTP/raw events/s)':<52} {each}")


if __name__ == "__main__":
    asyncio.run(main())

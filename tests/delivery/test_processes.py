"""Real worker processes against a real sandbox server: crash recovery and scale-out."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnirelay.models import Delivery, DeliveryStatus
from tests.conftest import TEST_KEY
from tests.delivery.helpers import add_storefront, customer_event, post_events

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox() -> tuple[subprocess.Popen[bytes], str] | None:
    """A sandbox server on a free port, once it answers; None when another process took the
    port between choosing it and binding it (the suite runs in several processes)."""
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "omnirelay.cli", "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded 2-core machine takes its time to import
    while process.poll() is None:
        try:
            httpx.get(f"{url}/_sandbox/faults", timeout=0.5)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the sandbox server did not come up on {url}") from None
            time.sleep(0.1)
    return None


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[str]:
    for _ in range(5):
        started = start_sandbox()
        if started is not None:
            break
    else:
        raise RuntimeError("the sandbox server exited at start five times")
    process, url = started
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:  # a request held by a delay fault keeps it waiting
        process.kill()
        process.wait(10)


def start_worker(database_url: str, **env: str) -> subprocess.Popen[bytes]:
    environment = (
        os.environ
        | {
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": TEST_KEY,
            "BASIC_AUTH_USERNAME": "admin",
            "BASIC_AUTH_PASSWORD": "test-password",
            "OMNIRELAY_ENV": "test",
            "WORKER_POLL_INTERVAL": "0.1",
            "LOG_LEVEL": "WARNING",
            "OUTBOUND_ALLOW": "127.0.0.1",  # the sandbox server
        }
        | env
    )
    return subprocess.Popen(
        [PYTHON, "-m", "omnirelay.cli", "worker"], env=environment, stdout=subprocess.DEVNULL
    )


async def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def status_counts(sessionmaker: Any) -> Counter[str]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        return Counter({status: count for status, count in rows})


async def meta_credential(client: httpx.AsyncClient, sandbox_url: str) -> None:
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "meta",
            "credentials": {"pixel_id": "1234567890", "access_token": "meta-secret-token"},
            "settings": {"base_url": f"{sandbox_url}/meta"},
        },
    )
    assert response.status_code == 201, response.text


async def test_a_worker_killed_mid_batch_loses_nothing(
    client, sessionmaker, sandbox_server
) -> None:
    httpx.delete(f"{sandbox_server}/_sandbox/requests")
    await add_storefront(client)
    await meta_credential(client, sandbox_server)
    await post_events(client, [customer_event(n) for n in range(20)])
    # the sandbox holds every answer for 30 s: the worker is killed while waiting for it
    httpx.put(f"{sandbox_server}/_sandbox/faults/meta", json={"kind": "none", "delay_ms": 30_000})
    database_url = client._transport.app.state.settings.database_url  # type: ignore[attr-defined]
    doomed = start_worker(database_url, WORKER_LEASE_SECONDS="2")
    try:
        await wait_for(lambda: _has(sessionmaker, DeliveryStatus.IN_FLIGHT, 20))
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    assert (await status_counts(sessionmaker))[DeliveryStatus.IN_FLIGHT] == 20

    httpx.delete(f"{sandbox_server}/_sandbox/faults/meta")
    survivor = start_worker(database_url, WORKER_LEASE_SECONDS="2")
    try:
        await wait_for(lambda: _has(sessionmaker, DeliveryStatus.DELIVERED, 20))
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(20) == 0  # graceful stop
    recorded = httpx.get(f"{sandbox_server}/_sandbox/requests", params={"platform": "meta"}).json()
    delivered_ids = {
        e["event_id"]
        for r in recorded["requests"]
        if r["response_status"] == 200
        for e in r["body"]["data"]
    }
    assert len(delivered_ids) == 20


async def _has(sessionmaker: Any, status: str, count: int) -> bool:
    return (await status_counts(sessionmaker))[status] == count


async def test_several_workers_never_send_twice(client, sessionmaker, sandbox_server) -> None:
    # On SQLite too: one writer at a time, and each claim is a single UPDATE ... RETURNING.
    httpx.delete(f"{sandbox_server}/_sandbox/requests")
    await add_storefront(client)
    await meta_credential(client, sandbox_server)
    httpx.put(f"{sandbox_server}/_sandbox/faults/meta", json={"kind": "none", "delay_ms": 20})
    await post_events(client, [customer_event(n) for n in range(300)])
    database_url = client._transport.app.state.settings.database_url  # type: ignore[attr-defined]
    workers = [start_worker(database_url, WORKER_BATCH_SIZE="10") for _ in range(3)]
    try:
        await wait_for(lambda: _has(sessionmaker, DeliveryStatus.DELIVERED, 300), timeout=120)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(20)
        httpx.delete(f"{sandbox_server}/_sandbox/faults/meta")
    recorded = httpx.get(f"{sandbox_server}/_sandbox/requests", params={"platform": "meta"}).json()
    sent = Counter(e["event_id"] for r in recorded["requests"] for e in r["body"]["data"])
    assert len(sent) == 300 and set(sent.values()) == {1}
    assert len(recorded["requests"]) >= 30  # batches of at most 10 each

"""The worker's own HTTP client (``omnirelay.pipeline.http_client``, what ``create_worker``
builds when it is given none) connects only where the guard allows, judged after DNS
resolution: a destination written into the database without the API, or a name that
resolves elsewhere than when it was configured (DNS rebinding), is refused before any
connection, as that delivery's permanent outcome. A real listener on loopback counts the
connections that reach it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from omnirelay.config import Settings
from omnirelay.models import AdAnalyticsPlatform, PlatformCredential, Storefront
from omnirelay.pipeline import create_worker
from tests.delivery.helpers import add_storefront, attempts, customer_event, deliveries, post_events

INTERNAL_ANSWER = b'{"admin": "internal-only answer"}'


class Listener:
    """An HTTP server on 127.0.0.1 that answers every request with ``INTERNAL_ANSWER`` and
    counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(INTERNAL_ANSWER)}\r\nconnection: close\r\n\r\n".encode()
            + INTERNAL_ANSWER
        )
        await writer.drain()
        writer.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The in-process sandbox only: loopback is not allowed."""
    return settings.model_copy(update={"outbound_allow": "sandbox"})


async def production_worker_drain(app: Any, **overrides: Any) -> None:
    """One drain by a worker with the production HTTP client (no test client given)."""
    settings = app.state.settings.model_copy(update=overrides)
    worker = create_worker(settings, app.state.sessionmaker, app.state.vault, app.state.metrics)
    try:
        await worker.drain()
    finally:
        await worker.close()


async def write_webhook_row(app: Any, storefront: str, url: str) -> None:
    """A webhook credential written straight into the database, as no API check sees it."""
    async with app.state.sessionmaker() as session, session.begin():
        storefront_id = (
            await session.execute(select(Storefront.id).where(Storefront.code == storefront))
        ).scalar_one()
        platform_id = (
            await session.execute(
                select(AdAnalyticsPlatform.id).where(AdAnalyticsPlatform.platform_code == "webhook")
            )
        ).scalar_one()
        session.add(
            PlatformCredential(
                storefront_id=storefront_id,
                platform_id=platform_id,
                credentials_encrypted=app.state.vault.encrypt({"url": url}),
            )
        )


async def test_an_internal_listener_is_not_reached_through_a_row_written_into_the_database(
    app: Any, client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    await add_storefront(client)
    async with Listener() as listener:
        url = f"http://127.0.0.1:{listener.port}/internal/admin"
        refused = await client.post(
            "/admin/v1/credentials",
            json={
                "storefront_id": "bosley",
                "platform_code": "webhook",
                "credentials": {"url": url},
            },
        )
        assert refused.status_code == 422
        assert refused.json()["detail"] == [
            {
                "field": "credentials.url",
                "reason": "destination address 127.0.0.1 is not allowed (loopback)",
            }
        ]
        await write_webhook_row(app, "bosley", url)
        await post_events(client, [customer_event(1)])
        await production_worker_drain(app)
        assert listener.connections == 0

    [delivery] = await deliveries(sessionmaker)
    assert (delivery.status, delivery.attempt_count) == ("dead", 1)
    assert delivery.last_error == "destination address 127.0.0.1 is not allowed (loopback)"
    [attempt] = await attempts(sessionmaker)
    assert (attempt.status, attempt.http_status) == ("permanent", None)
    detail = (await client.get(f"/admin/v1/events/{delivery.event_id}")).json()
    [shown] = detail["attempts"]
    assert shown["status"] == "permanent" and shown["response_body"] in (None, "")
    assert shown["error"] == "destination address 127.0.0.1 is not allowed (loopback)"
    assert "internal-only answer" not in str(detail)


async def test_an_allowed_listener_is_reached_by_the_same_client(
    app: Any, client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    """The control: with 127.0.0.1 in OUTBOUND_ALLOW the same row reaches the listener, so
    the test above would see a connection if one were made."""
    await add_storefront(client)
    async with Listener() as listener:
        await write_webhook_row(app, "bosley", f"http://127.0.0.1:{listener.port}/internal/admin")
        await post_events(client, [customer_event(1)])
        await production_worker_drain(app, outbound_allow="127.0.0.1")
        assert listener.connections == 1
    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "delivered", delivery.last_error


async def test_a_name_rebound_to_loopback_after_it_was_configured_is_refused(
    client: httpx.AsyncClient, app: Any, sessionmaker: Any, dns: dict[str, list[str]]
) -> None:
    await add_storefront(client)
    async with Listener() as listener:
        dns["hooks.rebind.example"] = ["93.184.216.34"]  # public when it is configured
        created = await client.post(
            "/admin/v1/credentials",
            json={
                "storefront_id": "bosley",
                "platform_code": "webhook",
                "credentials": {"url": f"http://hooks.rebind.example:{listener.port}/in"},
            },
        )
        assert created.status_code == 201, created.text
        dns["hooks.rebind.example"] = ["127.0.0.1"]  # and loopback when the worker sends
        await post_events(client, [customer_event(1)])
        await production_worker_drain(app)
        assert listener.connections == 0

    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "dead"
    assert delivery.last_error == (
        "destination address 127.0.0.1 is not allowed (loopback); "
        "hooks.rebind.example resolves to it"
    )

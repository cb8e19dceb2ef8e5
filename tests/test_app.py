"""Health, metrics and the embedded worker."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import uvicorn
from sqlalchemy import text

from omnirelay.app import create_app
from omnirelay.sandbox.core import SANDBOX
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    customer_event,
    post_events,
)


async def test_health_needs_no_auth(app) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as anonymous:
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        ready = await anonymous.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["schema"] == app.state.migration_head


async def test_ready_is_503_when_the_schema_is_behind(app, sessionmaker) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as anonymous:
            response = await anonymous.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["detail"]["schema"] == "0001"
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE alembic_version SET version_num = :v").bindparams(
                    v=app.state.migration_head
                )
            )


async def test_ready_is_503_when_the_database_is_unreachable(settings, tmp_path) -> None:
    settings.database_url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    application = create_app(settings, run_worker=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://x"
        ) as anonymous,
    ):
        response = await anonymous.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready"


async def test_metrics_expose_counters_and_queue_depth(client) -> None:
    await add_storefront(client)
    await post_events(client, [customer_event(1)])
    body = (await client.get("/metrics")).text
    assert "omnirelay_events_accepted_total 1.0" in body
    assert "omnirelay_queue_depth" in body and "omnirelay_dead_letters" in body
    assert "omnirelay_attempt_duration_seconds" in body


async def test_accepted_events_wake_the_embedded_worker(settings, sandbox_http) -> None:
    # With a one-minute poll, only the wake-up on acceptance can start delivery in time.
    settings.worker_poll_interval = 60
    application = create_app(settings, run_worker=True, http_client=sandbox_http)
    async with application.router.lifespan_context(application):
        await asyncio.sleep(0.1)  # the worker's first pass finds nothing and starts waiting
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://omnirelay",
            auth=("admin", "test-password"),
        ) as client:
            await add_storefront(client)
            await add_platform(client, "meta")
            started = time.monotonic()
            await post_events(client, [customer_event(1)])
            while not SANDBOX.recorded("meta") and time.monotonic() - started < 30:
                await asyncio.sleep(0.01)
            assert SANDBOX.recorded("meta"), "the embedded worker was not woken"


async def test_an_unexpected_error_is_a_json_500_and_the_connection_stays_usable(
    settings,
) -> None:
    """A real server: the OMS's keep-alive connection must survive a 500, or its next
    request fails with a transport error too."""
    application = create_app(settings, run_worker=False)

    @application.get("/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, log_level="critical", lifespan="on", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        local_ports: list[int] = []

        async def note_local_port(response: httpx.Response) -> None:
            stream = response.extensions["network_stream"]
            local_ports.append(stream.get_extra_info("client_addr")[1])

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            limits=httpx.Limits(max_connections=1),
            event_hooks={"response": [note_local_port]},
        ) as http:
            failed = await http.get("/test-only/boom")
            assert failed.status_code == 500
            assert failed.json() == {
                "error": "internal_error",
                "detail": "an unexpected error occurred",
            }
            assert failed.headers.get("connection", "").lower() != "close"
            healthy = await http.get("/health")
            assert healthy.status_code == 200
        assert len(local_ports) == 2 and local_ports[0] == local_ports[1]  # one connection
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def test_the_frameworks_own_answers_have_the_error_shape(client) -> None:
    missing = await client.get("/admin/v1/no-such-resource")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
    wrong_method = await client.put("/v1/events")
    assert wrong_method.status_code == 405 and "allow" in wrong_method.headers
    assert wrong_method.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}

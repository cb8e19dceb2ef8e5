"""The one transaction owner: a write endpoint's transaction ends before its answer leaves."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from omnirelay.models import Storefront
from tests.conftest import AUTH


def _recording_asgi(app: Any, log: list[str]) -> Any:
    """The app, with the first response message of every request written to ``log``."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def watched_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                log.append(f"response {message['status']}")
            await send(message)

        await app(scope, receive, watched_send)

    return wrapped


async def _client(app: Any, log: list[str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_recording_asgi(app, log), raise_app_exceptions=False),
        base_url="http://omnirelay",
        auth=AUTH,
    )


async def test_a_write_commits_before_the_response_starts(app, sessionmaker) -> None:
    log: list[str] = []

    def committed(_session: Session) -> None:
        log.append("commit")

    event.listen(Session, "after_commit", committed)
    try:
        async with await _client(app, log) as client:
            response = await client.post(
                "/admin/v1/storefronts", json={"storefront_id": "acme", "name": "Acme"}
            )
    finally:
        event.remove(Session, "after_commit", committed)
    assert response.status_code == 201
    assert log.index("commit") < log.index("response 201")


async def test_a_commit_that_fails_is_answered_as_an_error_and_keeps_nothing(
    app, sessionmaker
) -> None:
    log: list[str] = []

    def refuse(_session: Session) -> None:
        raise RuntimeError("the commit failed")

    event.listen(Session, "before_commit", refuse)
    try:
        async with await _client(app, log) as client:
            response = await client.post(
                "/admin/v1/storefronts", json={"storefront_id": "acme", "name": "Acme"}
            )
    finally:
        event.remove(Session, "before_commit", refuse)
    assert response.status_code == 500
    assert log == ["response 500"]
    async with sessionmaker() as session:
        assert (await session.execute(select(Storefront))).first() is None

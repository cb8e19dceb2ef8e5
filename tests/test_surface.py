"""What every response carries, and what is open without credentials."""

from __future__ import annotations

from typing import Any

import httpx

from omnirelay.app import create_app


def _anonymous(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://omnirelay")


async def test_metrics_and_docs_need_a_read_key(app: Any, client: httpx.AsyncClient) -> None:
    async with _anonymous(app) as anonymous:
        for path in ("/metrics", "/openapi.json", "/docs"):
            answer = await anonymous.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["error"] == "unauthorized"
        assert (await anonymous.get("/health")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "omnirelay"
    assert "swagger" in (await client.get("/docs")).text.lower()


async def test_settings_can_open_metrics_and_docs(settings: Any) -> None:
    settings.public_metrics = settings.public_docs = True
    app = create_app(settings, run_worker=False)
    async with app.router.lifespan_context(app), _anonymous(app) as anonymous:
        for path in ("/metrics", "/openapi.json", "/docs"):
            assert (await anonymous.get(path)).status_code == 200, path


async def test_every_answer_is_nosniff_and_not_stored(client: httpx.AsyncClient) -> None:
    for answer in [
        await client.get("/admin/v1/events"),
        await client.get("/health"),
        await client.get("/no/such/path"),
    ]:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"


async def test_unknown_paths_and_methods_answer_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
    wrong = await client.delete("/v1/events")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
    assert wrong.headers["allow"] == "POST"

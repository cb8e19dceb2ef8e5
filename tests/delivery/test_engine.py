"""The delivery engine on real databases, against the in-process sandbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from omnirelay.config import Settings
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    attempts,
    customer_event,
    deliveries,
    events,
    make_all_due,
    post_events,
)


@pytest.fixture(params=[1, 0], ids=["preparing-process", "inline"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Every engine test runs as deployed (a preparing process, the default) and inline."""
    return settings.model_copy(update={"worker_prepare_processes": request.param})


async def test_meta_batch_is_delivered_and_audited(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(n) for n in range(5)])
    await worker.drain()

    assert {e.status for e in await events(sessionmaker)} == {"delivered"}
    rows = await deliveries(sessionmaker)
    assert [(d.destination_code, d.status, d.attempt_count) for d in rows] == [
        ("meta", "delivered", 1)
    ] * 5
    [request] = SANDBOX.recorded("meta")
    assert len(request.body["data"]) == 5  # one batched request
    assert request.body["data"][0]["event_name"] == "Purchase"
    audit = await attempts(sessionmaker)
    assert [(a.attempt_number, a.status, a.http_status) for a in audit] == [
        (1, "delivered", 200)
    ] * 5

    detail = (await client.get(f"/admin/v1/events/{rows[0].event_id}")).json()
    assert detail["deliveries"][0]["status"] == "delivered"
    [attempt] = detail["attempts"]
    assert attempt["request_body"]["data"][0]["event_id"] == "ORD00000000"
    assert "meta-secret-token" not in str(detail)  # the token travelled in the URL: scrubbed
    assert "********" in attempt["request_url"]


async def test_sgtm_wins_over_platforms_and_inactive_storefront_is_skipped(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client, "bosley")
    await add_storefront(client, "pfizer")
    await add_platform(client, "meta", "bosley")
    response = await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": "bosley",
            "sgtm_url": "http://sandbox/sgtm",
            "client_type": "ga4",
            "measurement_id": "G-XXXXXX",
            "api_secret": "sgtm-secret",
        },
    )
    assert response.status_code == 201, response.text
    await client.patch("/admin/v1/storefronts/pfizer", json={"is_active": False})
    await post_events(client, [customer_event(1), customer_event(2, storefront="pfizer")])
    await worker.drain()

    bosley, pfizer = await events(sessionmaker)
    assert bosley.status == "delivered"
    assert pfizer.status == "skipped" and pfizer.status_detail == "storefront 'pfizer' is inactive"
    assert [d.destination_code for d in await deliveries(sessionmaker)] == ["sgtm_ga4"]
    [hit] = SANDBOX.recorded("sgtm")
    assert hit.path == "/sgtm/mp/collect"
    assert hit.query == {"measurement_id": "G-XXXXXX", "api_secret": "sgtm-secret"}
    assert hit.body["client_id"] == "sess_1"
    params = hit.body["events"][0]["params"]
    assert hit.body["events"][0]["name"] == "purchase"
    assert (
        params["transaction_id"],
        params["value"],
        params["currency"],
        params["storefront_id"],
    ) == ("ORD00000001", 80.79, "USD", "bosley")
    assert params["utm_source"] == "google"
    assert SANDBOX.recorded("meta") == []


async def test_sgtm_custom_client_passes_every_field_with_headers(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client)
    await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": "bosley",
            "sgtm_url": "http://sandbox/sgtm",
            "client_type": "custom",
            "custom_endpoint_path": "/collect",
            "custom_headers": {"X-Api-Key": "custom-key-123"},
        },
    )
    await post_events(client, [customer_event(1, loyalty_tier="gold")])
    await worker.drain()
    [hit] = SANDBOX.recorded("sgtm")
    assert hit.path == "/sgtm/collect"
    assert hit.headers["x-api-key"] == "custom-key-123"
    assert hit.body["event_name"] == "purchase_completed"
    assert hit.body["loyalty_tier"] == "gold" and hit.body["order_revenue"] == 80.79
    detail = (await client.get(f"/admin/v1/events/{(await events(sessionmaker))[0].id}")).text
    assert "custom-key-123" not in detail


async def test_each_destination_is_independent(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await add_platform(client, "tiktok")
    SANDBOX.faults["tiktok"] = FaultConfig(kind="503")
    await post_events(client, [customer_event(1)])
    await worker.drain()
    meta, tiktok = await deliveries(sessionmaker)
    assert (meta.status, tiktok.status) == ("delivered", "pending")
    assert (await events(sessionmaker))[0].status == "queued"

    SANDBOX.faults.clear()
    await make_all_due(sessionmaker)
    await worker.drain()
    meta, tiktok = await deliveries(sessionmaker)
    assert (meta.attempt_count, tiktok.attempt_count, tiktok.status) == (1, 2, "delivered")
    assert len(SANDBOX.recorded("meta")) == 1  # the success was not sent again
    assert (await events(sessionmaker))[0].status == "delivered"


async def test_retry_schedule_follows_the_backoff_with_jitter(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    SANDBOX.faults["meta"] = FaultConfig(kind="500")
    await post_events(client, [customer_event(1)])
    base = worker.settings.retry_backoff_base
    for failures in (1, 2, 3):
        before = datetime.now(UTC)
        await worker.drain()
        [delivery] = await deliveries(sessionmaker)
        assert delivery.attempt_count == failures and delivery.status == "pending"
        wait = (delivery.next_attempt_at - before).total_seconds()
        expected = base * 2 ** (failures - 1)
        assert expected * 0.8 - 1 <= wait <= expected * 1.2 + 1
        await make_all_due(sessionmaker)


async def test_retry_after_is_honoured(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    await add_platform(client, "pinterest")
    SANDBOX.faults["pinterest"] = FaultConfig(kind="429", retry_after=7)
    await post_events(client, [customer_event(1)])
    before = datetime.now(UTC)
    await worker.drain()
    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "pending" and delivery.last_http_status == 429
    assert 6 <= (delivery.next_attempt_at - before).total_seconds() <= 9


async def test_invalid_payload_is_permanent_and_dead_lettered_at_once(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client)
    await add_platform(client, "tiktok")
    SANDBOX.faults["tiktok"] = FaultConfig(kind="invalid")  # TikTok answers 200 with code 40002
    await post_events(client, [customer_event(1)])
    await worker.drain()
    [delivery] = await deliveries(sessionmaker)
    assert (delivery.status, delivery.attempt_count) == ("dead", 1)
    assert "40002" in (delivery.last_error or "")
    assert (await events(sessionmaker))[0].status == "failed"


async def test_retries_end_in_the_dead_letter_state_then_replay_delivers(
    client, app, sessionmaker, worker
) -> None:
    worker.settings.max_retry_attempts = 3
    await add_storefront(client)
    await add_platform(client, "snapchat")
    SANDBOX.faults["snapchat"] = FaultConfig(kind="502")
    await post_events(client, [customer_event(1)])
    for _ in range(3):
        await worker.drain()
        await make_all_due(sessionmaker)
    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "dead" and delivery.attempt_count == 3
    assert (delivery.last_error or "").startswith("gave up after 3 attempts")
    assert [a.attempt_number for a in await attempts(sessionmaker)] == [1, 2, 3]

    SANDBOX.faults.clear()
    response = await client.post(
        "/admin/v1/deliveries/replay", json={"storefront_id": "bosley", "destination": "snapchat"}
    )
    assert response.json() == {"replayed": 1, "delivery_ids": [delivery.id]}
    await worker.drain()
    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "delivered"
    assert (await events(sessionmaker))[0].status == "delivered"
    assert [a.status for a in await attempts(sessionmaker)][-2:] == ["replayed", "delivered"]


async def test_kill_switches_are_read_at_delivery_time(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    meta = await add_platform(client, "meta")
    tiktok = await add_platform(client, "tiktok")
    await add_platform(client, "pinterest")
    await post_events(client, [customer_event(1)])
    async with sessionmaker() as session, session.begin():
        from omnirelay.pipeline import dispatcher

        await session.run_sync(dispatcher().route, 100)  # deliveries exist, nothing sent yet
    await client.patch(f"/admin/v1/credentials/{meta['id']}", json={"is_active": False})
    await client.patch("/admin/v1/platforms/tiktok", json={"is_active": False})
    await worker.drain()
    by_code = {d.destination_code: d for d in await deliveries(sessionmaker)}
    assert (
        by_code["meta"].status == "skipped"
        and by_code["meta"].last_error == "platform credential is inactive"
    )
    assert by_code["tiktok"].last_error == "platform 'tiktok' is inactive"
    assert by_code["pinterest"].status == "delivered"
    assert SANDBOX.recorded("meta") == [] and SANDBOX.recorded("tiktok") == []
    assert tiktok["id"]


async def test_event_types_filter_and_name_override(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    await add_platform(
        client,
        "meta",
        event_types=["purchase_completed", "rx_issued"],
        event_name_map={"rx_issued": "SubmitApplication"},
    )
    await post_events(
        client, [customer_event(1, event_name=name) for name in ("consult_started", "rx_issued")]
    )
    await worker.drain()
    consult, rx = await events(sessionmaker)
    assert consult.status == "skipped" and "not enabled for 'meta'" in (consult.status_detail or "")
    [hit] = SANDBOX.recorded("meta")
    assert [e["event_name"] for e in hit.body["data"]] == ["SubmitApplication"]


@pytest.mark.parametrize("platform", ["ga4", "tiktok", "snapchat", "pinterest"])
async def test_every_platform_delivers_to_its_sandbox(
    client, sessionmaker, worker, platform
) -> None:
    await add_storefront(client)
    await add_platform(client, platform)
    await post_events(client, [customer_event(1), customer_event(2, event_name="consult_started")])
    await worker.drain()
    assert [d.status for d in await deliveries(sessionmaker)] == ["delivered", "delivered"], [
        d.last_error for d in await deliveries(sessionmaker)
    ]
    assert SANDBOX.recorded(platform)


async def test_every_destination_sends_content_type_once(client, sessionmaker, worker) -> None:
    await add_storefront(client, "bosley")
    for platform in ("meta", "ga4", "tiktok", "snapchat", "pinterest"):
        await add_platform(client, platform)
    webhook = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "webhook",
            "credentials": {
                "url": "http://sandbox/webhook/orders",
                "headers": {"content-type": "application/json; charset=utf-8"},
            },
        },
    )
    assert webhook.status_code == 201, webhook.text
    for code, client_type, extra in (
        ("via_sgtm_ga4", "ga4", {"measurement_id": "G-XXXXXX"}),
        ("via_sgtm_custom", "custom", {"custom_headers": {"CONTENT-TYPE": "application/json"}}),
    ):
        await add_storefront(client, code)
        response = await client.post(
            "/admin/v1/sgtm-configs",
            json={
                "storefront_id": code,
                "sgtm_url": "http://sandbox/sgtm",
                "client_type": client_type,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
    await post_events(
        client,
        [
            customer_event(1),
            customer_event(2, storefront="via_sgtm_ga4"),
            customer_event(3, storefront="via_sgtm_custom"),
        ],
    )
    await worker.drain()

    assert {d.status for d in await deliveries(sessionmaker)} == {"delivered"}
    recorded = SANDBOX.recorded()
    assert {r.platform for r in recorded} == {
        "meta",
        "ga4",
        "tiktok",
        "snapchat",
        "pinterest",
        "webhook",
        "sgtm",
    }
    assert len([r for r in recorded if r.platform == "sgtm"]) == 2
    for hit in recorded:
        content_types = [v for k, v in hit.header_lines if k == "content-type"]
        assert len(content_types) == 1, (hit.platform, hit.path, hit.header_lines)
        assert content_types[0].startswith("application/json"), (hit.platform, content_types)


async def test_webhook_destination_signs_its_body(client, sessionmaker, worker) -> None:
    await add_storefront(client)
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "webhook",
            "credentials": {
                "url": "http://sandbox/webhook/orders?secret=whsec-1",
                "secret": "whsec-1",
            },
        },
    )
    assert response.status_code == 201, response.text
    await post_events(client, [customer_event(1)])
    await worker.drain()
    [delivery] = await deliveries(sessionmaker)
    assert delivery.status == "delivered", delivery.last_error
    [hit] = SANDBOX.recorded("webhook")
    assert hit.body["event_id"] == "ORD00000001" and hit.response_status == 200


async def test_shutdown_releases_claimed_deliveries_not_yet_sent(
    client, sessionmaker, worker
) -> None:
    from omnirelay.delivery.claim import Lease, claim_due

    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(1)])
    async with sessionmaker() as session, session.begin():
        from omnirelay.pipeline import dispatcher

        await session.run_sync(dispatcher().route, 100)
    async with sessionmaker() as session, session.begin():
        now = datetime.now(UTC)
        claimed = await session.run_sync(
            claim_due, Lease.starting(worker.worker_id, now, 60), 10, now
        )
    await worker.stop()
    await worker.engine.deliver(claimed)
    [delivery] = await deliveries(sessionmaker)
    assert (delivery.status, delivery.attempt_count, delivery.claimed_by) == ("pending", 0, None)
    assert delivery.next_attempt_at <= datetime.now(UTC)
    assert SANDBOX.recorded("meta") == []


async def test_stop_ends_every_lane_without_waiting_for_the_poll(worker, monkeypatch) -> None:
    worker.settings.worker_poll_interval = 60
    worker.settings.worker_batches_in_flight = 3
    passes = 0

    async def slow_empty_pass() -> bool:  # lanes busy at stop, finishing one after another
        nonlocal passes
        passes += 1
        await asyncio.sleep(0.1 * passes)
        return False

    monkeypatch.setattr(worker, "run_once", slow_empty_pass)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    await worker.stop()
    # A lane that missed the stop signal would hold run() for the 60 s poll.
    await asyncio.wait_for(running, timeout=10)


async def test_a_batch_refused_as_a_whole_is_split_until_the_bad_event_stands_alone(
    client, sessionmaker, worker, monkeypatch
) -> None:
    from omnirelay import destinations
    from omnirelay.destinations.base import refused_as_a_whole
    from omnirelay.destinations.meta import MetaConversionsApi

    class RefusesOneEvent(MetaConversionsApi):
        """Meta as it behaves when it rejects a batch without naming the bad event."""

        def classify(self, request, result):  # type: ignore[no-untyped-def]
            ids = [e["event_id"] for e in request.parsed_body()["data"]]
            if "ORD00000003" in ids:
                return refused_as_a_whole(request, "Invalid parameter")
            return super().classify(request, result)

    monkeypatch.setitem(destinations.DESTINATIONS, "meta", RefusesOneEvent())
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(n) for n in range(8)])
    await worker.drain()

    rows = await deliveries(sessionmaker)
    statuses = {d.event_id: (d.status, d.attempt_count) for d in rows}
    bad = next(e.id for e in await events(sessionmaker) if e.event_id == "ORD00000003")
    assert statuses.pop(bad) == ("dead", 1)
    assert set(statuses.values()) == {("delivered", 1)}
    # 8 -> 4 + 4 -> 2 + 2 -> 1 + 1: seven requests, the bad event alone in the last
    assert sorted(len(r.body["data"]) for r in SANDBOX.recorded("meta")) == [1, 1, 2, 2, 4, 4, 8]
    bad_attempts = [a.status for a in await attempts(sessionmaker) if a.event_id == bad]
    assert bad_attempts == ["split", "split", "split", "permanent"]

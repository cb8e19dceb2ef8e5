"""sGTM destinations (GA4 client, custom client): requests, classification, sandbox round trip."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from omnirelay.destinations.base import (
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    PreparedRequest,
)
from omnirelay.destinations.ga4 import Ga4MeasurementProtocol
from omnirelay.destinations.sgtm import SgtmCustomClient, SgtmGa4Client
from omnirelay.sandbox.core import SANDBOX
from omnirelay.sandbox.sgtm import router

GA4_CLIENT = SgtmGa4Client()
CUSTOM_CLIENT = SgtmCustomClient()
# the seed's example configuration and event
GA4_TARGET = DestinationTarget(
    credentials={"api_secret": "XXX"},
    settings={"sgtm_url": "https://tags.upscript.com", "measurement_id": "G-XXXXXX"},
)
CUSTOM_TARGET = DestinationTarget(
    credentials={"custom_headers": {"X-Api-Key": "your-key"}},
    settings={"sgtm_url": "https://tags.upscript.com", "custom_endpoint_path": "/collect"},
)
SEED_PAYLOAD: dict[str, Any] = {
    "storefront_id": "bosley",
    "event_name": "purchase_completed",
    "order_id": "order_123",
    "order_revenue": 80.79,
    "session_id": "session_123",
    "utm_source": "google",
}


def make_event(
    delivery_id: int = 1,
    event_type: str = "purchase_completed",
    *,
    name: str | None = None,
    payload: Mapping[str, Any] | None = None,
    age: timedelta = timedelta(minutes=5),
) -> OutboundEvent:
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id="order_123",
        event_type=event_type,
        destination_event_name=name or event_type,
        event_time=datetime.now(UTC) - age,
        storefront_code="bosley",
        payload=SEED_PAYLOAD if payload is None else payload,
    )


# --- GA4 client ------------------------------------------------------------------------


async def test_ga4_client_sends_the_seed_request() -> None:
    prepared = GA4_CLIENT.prepare([make_event(name="purchase")], GA4_TARGET)
    assert prepared.rejected == []
    (request,) = prepared.requests
    assert request.method == "POST"
    assert request.url == (
        "https://tags.upscript.com/mp/collect?measurement_id=G-XXXXXX&api_secret=XXX"
    )
    assert request.secrets == ["XXX"]
    body = request.json_body
    assert set(body) == {"client_id", "timestamp_micros", "events"}
    assert body["client_id"] == "session_123"
    assert body["events"] == [
        {
            "name": "purchase",
            "params": {
                "transaction_id": "order_123",
                "value": 80.79,
                "currency": "USD",
                "storefront_id": "bosley",
                "utm_source": "google",
            },
        }
    ]


async def test_ga4_client_body_is_the_ga4_destination_body() -> None:
    event = make_event(name="purchase")
    direct_target = DestinationTarget(
        credentials={"api_secret": "XXX"}, settings={"measurement_id": "G-XXXXXX"}
    )
    direct = Ga4MeasurementProtocol().prepare([event], direct_target).requests[0]
    via_sgtm = GA4_CLIENT.prepare([event], GA4_TARGET).requests[0]
    assert via_sgtm.json_body == direct.json_body
    assert GA4_CLIENT.default_event_names["purchase_completed"] == "purchase"


async def test_ga4_client_api_secret_optional_and_no_72h_window() -> None:
    target = DestinationTarget(
        credentials={}, settings={"sgtm_url": "https://tags.x.com/", "measurement_id": "G-1"}
    )
    prepared = GA4_CLIENT.prepare([make_event(name="purchase", age=timedelta(days=10))], target)
    (request,) = prepared.requests
    assert request.url == "https://tags.x.com/mp/collect?measurement_id=G-1"
    assert request.secrets == []


async def test_ga4_client_missing_settings_rejected() -> None:
    prepared = GA4_CLIENT.prepare(
        [make_event(1), make_event(2)], DestinationTarget(credentials={}, settings={})
    )
    assert prepared.requests == []
    assert {o.outcome for o in prepared.rejected} == {Outcome.PERMANENT}
    assert "sgtm_url" in (prepared.rejected[0].error or "")
    assert "measurement_id" in (prepared.rejected[0].error or "")


async def test_ga4_client_one_request_per_event_and_base_url_override() -> None:
    target = DestinationTarget(
        credentials={"api_secret": "XXX"},
        settings={**GA4_TARGET.settings, "base_url": "http://127.0.0.1:8090/sgtm"},
    )
    prepared = GA4_CLIENT.prepare([make_event(1), make_event(2)], target)
    assert GA4_CLIENT.max_batch_size == 1
    assert [r.delivery_ids for r in prepared.requests] == [[1], [2]]
    assert prepared.requests[0].url.startswith("http://127.0.0.1:8090/sgtm/mp/collect?")


# --- custom client ---------------------------------------------------------------------


async def test_custom_client_passes_payload_through() -> None:
    payload = {**SEED_PAYLOAD, "items": [{"sku": "A1"}], "email": "jane@example.com"}
    (request,) = CUSTOM_CLIENT.prepare([make_event(payload=payload)], CUSTOM_TARGET).requests
    assert request.url == "https://tags.upscript.com/collect"
    assert request.json_body["event_name"] == "purchase_completed"
    assert request.json_body["storefront_id"] == "bosley"
    for key, value in payload.items():
        assert request.json_body[key] == value
    assert request.headers["X-Api-Key"] == "your-key"
    assert request.secrets == ["your-key"]


async def test_custom_client_defaults_and_mapped_name() -> None:
    target = DestinationTarget(credentials={}, settings={"sgtm_url": "https://t.example.com"})
    payload = {"order_revenue": 5}
    (request,) = CUSTOM_CLIENT.prepare(
        [make_event(name="rx_done", payload=payload)], target
    ).requests
    assert request.url == "https://t.example.com/collect"
    body = request.json_body
    assert body["event_name"] == "rx_done"
    assert body["storefront_id"] == "bosley"
    assert body["order_id"] == "order_123"
    assert body["event_time"].endswith("Z")
    assert request.secrets == []


async def test_custom_client_path_and_headers_as_json_text() -> None:
    target = DestinationTarget(
        credentials={"custom_headers": '{"Authorization": "Bearer abc"}'},
        settings={
            "sgtm_url": "https://t.example.com/",
            "custom_endpoint_path": "events/v1",
            "custom_headers": {"X-Source": "omnirelay"},
        },
    )
    (request,) = CUSTOM_CLIENT.prepare([make_event()], target).requests
    assert request.url == "https://t.example.com/events/v1"
    assert request.headers["X-Source"] == "omnirelay"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.secrets == ["Bearer abc"]


async def test_custom_client_bad_settings_rejected() -> None:
    no_url = CUSTOM_CLIENT.prepare([make_event()], DestinationTarget(credentials={}))
    assert no_url.rejected[0].outcome is Outcome.PERMANENT
    bad_headers = DestinationTarget(
        credentials={"custom_headers": "not json"}, settings={"sgtm_url": "https://t.x"}
    )
    rejected = CUSTOM_CLIENT.prepare([make_event()], bad_headers).rejected[0]
    assert rejected.outcome is Outcome.PERMANENT
    assert "custom_headers" in (rejected.error or "")


# --- classification --------------------------------------------------------------------


async def test_classify_2xx_delivered_others_by_status() -> None:
    request = PreparedRequest("POST", "https://t.x/collect", [1])
    for client in (GA4_CLIENT, CUSTOM_CLIENT):
        assert client.classify(request, HttpResult(200, body='{"status":"ok"}'))[0].outcome is (
            Outcome.DELIVERED
        )
        assert client.classify(request, HttpResult(204))[0].outcome is Outcome.DELIVERED
        limited = client.classify(request, HttpResult(429, {"retry-after": "12"}))[0]
        assert limited.outcome is Outcome.RETRY and limited.retry_after == 12.0
        assert client.classify(request, HttpResult(502))[0].outcome is Outcome.RETRY
        assert client.classify(request, HttpResult(None, error="network: refused"))[0].outcome is (
            Outcome.RETRY
        )
        assert client.classify(request, HttpResult(400))[0].outcome is Outcome.PERMANENT
        assert client.classify(request, HttpResult(401))[0].outcome is Outcome.PERMANENT


# --- sandbox round trip -------------------------------------------------------------------


async def send(request: PreparedRequest) -> HttpResult:
    app = FastAPI()
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.request(
            request.method, request.url, content=request.body_bytes(), headers=request.headers
        )
    return HttpResult(response.status_code, dict(response.headers), response.text)


def sandbox(target: DestinationTarget) -> DestinationTarget:
    return DestinationTarget(
        credentials=target.credentials,
        settings={**target.settings, "base_url": "http://sandbox/sgtm"},
    )


async def test_sandbox_ga4_client_round_trip() -> None:
    SANDBOX.reset()
    (request,) = GA4_CLIENT.prepare([make_event(name="purchase")], sandbox(GA4_TARGET)).requests
    result = await send(request)
    assert result.status_code == 204
    assert GA4_CLIENT.classify(request, result)[0].outcome is Outcome.DELIVERED
    (record,) = SANDBOX.recorded("sgtm")
    assert record.path == "/sgtm/mp/collect"
    assert record.query == {"measurement_id": "G-XXXXXX", "api_secret": "XXX"}
    assert record.as_dict()["validation_messages"] == []


async def test_sandbox_custom_client_round_trip() -> None:
    SANDBOX.reset()
    (request,) = CUSTOM_CLIENT.prepare([make_event()], sandbox(CUSTOM_TARGET)).requests
    result = await send(request)
    assert result.status_code == 200 and result.json() == {"status": "ok"}
    assert CUSTOM_CLIENT.classify(request, result)[0].outcome is Outcome.DELIVERED
    (record,) = SANDBOX.recorded("sgtm")
    assert record.path == "/sgtm/collect"
    assert record.headers["x-api-key"] == "your-key"
    assert record.body["order_id"] == "order_123"


async def test_sandbox_custom_client_requires_event_name() -> None:
    SANDBOX.reset()
    url = "http://sandbox/sgtm/collect"
    missing = PreparedRequest("POST", url, [1], json_body={"order_id": "1"})
    result = await send(missing)
    assert result.status_code == 400
    assert CUSTOM_CLIENT.classify(missing, result)[0].outcome is Outcome.PERMANENT
    not_object = PreparedRequest("POST", url, [2], json_body=["purchase_completed"])
    assert (await send(not_object)).status_code == 400


async def test_sandbox_mp_collect_records_invalid_hits_silently() -> None:
    SANDBOX.reset()
    request = PreparedRequest(
        "POST", "http://sandbox/sgtm/mp/collect?measurement_id=G-1", [1], json_body={"events": []}
    )
    result = await send(request)
    assert result.status_code == 204
    codes = {
        m["validationCode"] for m in SANDBOX.recorded("sgtm")[0].as_dict()["validation_messages"]
    }
    assert codes == {"VALUE_REQUIRED"}

"""Fake of the Pinterest API for Conversions: ``POST /v5/ad_accounts/{ad_account_id}/events``.

Mounted under ``/pinterest`` so a credential ``base_url`` of ``http://host:port/pinterest``
reaches it unchanged. It behaves like Pinterest (see ``omnirelay/destinations/pinterest.py``):

* no or empty ``Authorization: Bearer`` token -> 401 ``{"code": 2, "message": ...}``;
* a body that breaks the request schema (no ``data``, 0 or more than 1000 events, a missing
  required field, an unknown key where ``additionalProperties`` is false, a wrong type such
  as a numeric ``custom_data.value``) -> 400 ``{"code": 4196, "message": "Invalid request:
  ..."}`` for the whole request, as Pinterest's schema validation does;
* otherwise 200 with one result per event, in order: an event Pinterest would not accept
  (too old, not hashed, no usable identity, ...) is ``"failed"`` with an ``error_message``
  while the others are ``"processed"``. ``?test=true`` answers the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/pinterest")

PLATFORM = "pinterest"
INVALID_REQUEST_CODE = 4196
AUTHENTICATION_FAILED_CODE = 2
MAX_EVENTS = 1000
EVENT_TIME_WINDOW = timedelta(days=7)
FUTURE_TOLERANCE = timedelta(minutes=10)
ACTION_SOURCES = frozenset({"app_android", "app_ios", "web", "offline"})
REQUIRED_EVENT_FIELDS = ("event_name", "action_source", "event_time", "user_data", "event_id")
# additionalProperties is false for these objects; the sets include fields of newer API minors
EVENT_FIELDS = frozenset(
    {
        *REQUIRED_EVENT_FIELDS, "event_source_url", "opt_out", "partner_name", "custom_data",
        "app_id", "app_name", "app_version", "app_info", "device_brand", "device_carrier",
        "device_model", "device_type", "device_info", "os_version", "wifi", "language",
        "advertiser_tracking_enabled",
    }
)  # fmt: skip
CUSTOM_DATA_FIELDS = frozenset(
    {
        "currency", "value", "content_ids", "content_name", "content_category",
        "content_brand", "contents", "num_items", "order_id", "search_string", "opt_out_type",
        "np", "predicted_ltv", "external_measurement_id", "external_measurement_vendor_id",
    }
)  # fmt: skip
CONTENT_FIELDS = frozenset(
    {"id", "item_price", "quantity", "item_name", "item_category", "item_brand"}
)
HASHED_USER_FIELDS = (
    "em", "hashed_maids", "ph", "ge", "db", "ln", "fn", "ct", "st", "zp", "country",
    "external_id",
)  # fmt: skip
PLAIN_USER_FIELDS = ("client_ip_address", "client_user_agent", "click_id", "partner_id")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def invalid_response(message: str) -> Response:
    return JSONResponse(
        {"code": INVALID_REQUEST_CODE, "message": f"Invalid request: {message}"}, status_code=400
    )


def _type_name(value: Any) -> str:
    return type(value).__name__


def _request_problem(body: Any) -> str | None:
    """The first schema violation, worded like Pinterest's JSON-schema messages."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    extra = sorted(set(body) - {"data"})
    if extra:
        return f"Additional properties are not allowed ({extra[0]!r} was unexpected)"
    data = body.get("data")
    if data is None:
        return "'data' is a required property"
    if not isinstance(data, list):
        return f"{_type_name(data)} is not of type 'array' at data"
    if not data:
        return "[] should be non-empty at data"
    if len(data) > MAX_EVENTS:
        return f"data has {len(data)} items, more than the maximum of {MAX_EVENTS}"
    for index, event in enumerate(data):
        problem = _event_schema_problem(event)
        if problem is not None:
            return f"{problem} at data[{index}]"
    return None


def _event_schema_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "event is not of type 'object'"
    for name in REQUIRED_EVENT_FIELDS:
        if name not in event:
            return f"{name!r} is a required property"
    extra = sorted(set(event) - EVENT_FIELDS)
    if extra:
        return f"Additional properties are not allowed ({extra[0]!r} was unexpected)"
    for name in ("event_name", "action_source", "event_id"):
        if not isinstance(event[name], str):
            return f"{event[name]!r} is not of type 'string' ({name})"
    if not isinstance(event["event_time"], int) or isinstance(event["event_time"], bool):
        return f"{event['event_time']!r} is not of type 'integer' (event_time)"
    user_data = event["user_data"]
    if not isinstance(user_data, dict):
        return "user_data is not of type 'object'"
    for name in HASHED_USER_FIELDS:
        values = user_data.get(name)
        if values is not None and not (
            isinstance(values, list) and all(isinstance(v, str) for v in values)
        ):
            return f"{values!r} is not of type 'array' of strings (user_data.{name})"
    for name in PLAIN_USER_FIELDS:
        value = user_data.get(name)
        if value is not None and not isinstance(value, str):
            return f"{value!r} is not of type 'string' (user_data.{name})"
    custom_data = event.get("custom_data")
    if custom_data is not None:
        return _custom_data_problem(custom_data)
    return None


def _custom_data_problem(custom_data: Any) -> str | None:
    if not isinstance(custom_data, dict):
        return "custom_data is not of type 'object'"
    extra = sorted(set(custom_data) - CUSTOM_DATA_FIELDS)
    if extra:
        return f"Additional properties are not allowed ({extra[0]!r} was unexpected)"
    for name in ("currency", "value", "order_id", "content_name", "predicted_ltv"):
        value = custom_data.get(name)
        if value is not None and not isinstance(value, str):
            return f"{value!r} is not of type 'string' (custom_data.{name})"
    num_items = custom_data.get("num_items")
    if num_items is not None and (not isinstance(num_items, int) or isinstance(num_items, bool)):
        return f"{num_items!r} is not of type 'integer' (custom_data.num_items)"
    contents = custom_data.get("contents")
    if contents is not None:
        if not isinstance(contents, list):
            return "custom_data.contents is not of type 'array'"
        for item in contents:
            if not isinstance(item, dict):
                return "custom_data.contents item is not of type 'object'"
            extra = sorted(set(item) - CONTENT_FIELDS)
            if extra:
                return f"Additional properties are not allowed ({extra[0]!r} was unexpected)"
            price = item.get("item_price")
            if price is not None and not isinstance(price, str):
                return f"{price!r} is not of type 'string' (custom_data.contents.item_price)"
    return None


def _event_error(event: dict[str, Any], now: datetime) -> str | None:
    """Why Pinterest would fail this (schema-valid) event, or None if it is processed."""
    if not event["event_name"].strip():
        return "event_name must not be empty"
    if event["action_source"] not in ACTION_SOURCES:
        return f"action_source must be one of {', '.join(sorted(ACTION_SOURCES))}"
    if not event["event_id"].strip():
        return "event_id must not be empty"
    event_time = datetime.fromtimestamp(event["event_time"], UTC)
    if event_time < now - EVENT_TIME_WINDOW:
        return "event_time is more than 7 days in the past"
    if event_time > now + FUTURE_TOLERANCE:
        return "event_time is in the future (is it in milliseconds?)"
    user_data = event["user_data"]
    has_ip_and_agent = bool(user_data.get("client_ip_address")) and bool(
        user_data.get("client_user_agent")
    )
    if not (user_data.get("em") or user_data.get("hashed_maids") or has_ip_and_agent):
        return (
            "user_data requires at least one of em, hashed_maids or the pair "
            "client_ip_address + client_user_agent"
        )
    for name in HASHED_USER_FIELDS:
        for value in user_data.get(name) or ():
            if not _SHA256_RE.match(value):
                return f"'{name}' field is not hashed correctly: expected SHA-256 hex"
    custom_data = event.get("custom_data") or {}
    if custom_data.get("value") is not None:
        try:
            float(custom_data["value"])
        except ValueError:
            return f"custom_data.value {custom_data['value']!r} is not a number"
    currency = custom_data.get("currency")
    if currency is not None and not _CURRENCY_RE.match(currency):
        return f"custom_data.currency {currency!r} is not an ISO-4217 code"
    return None


@router.post("/v5/ad_accounts/{ad_account_id}/events")
async def send_conversions(ad_account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive(PLATFORM, request, invalid_response)
    if fault is not None:
        return fault
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return finish(
            record,
            JSONResponse(
                {"code": AUTHENTICATION_FAILED_CODE, "message": "Authentication failed."},
                status_code=401,
            ),
        )
    if not re.fullmatch(r"\d{1,18}", ad_account_id):
        return finish(record, invalid_response(f"{ad_account_id!r} does not match '^\\d+$'"))
    problem = _request_problem(record.body)
    if problem is not None:
        return finish(record, invalid_response(problem))

    now = datetime.now(UTC)
    results: list[dict[str, str]] = []
    for event in record.body["data"]:
        error = _event_error(event, now)
        results.append(
            {
                "status": "failed" if error else "processed",
                "error_message": error or "",
                "warning_message": "",
            }
        )
    processed = sum(1 for r in results if r["status"] == "processed")
    return finish(
        record,
        JSONResponse(
            {
                "num_events_received": len(results),
                "num_events_processed": processed,
                "events": results,
            }
        ),
    )

"""Snapchat Conversions API v3 (web events sent to a Snap Pixel).

Documentation facts this module relies on:

* Endpoint ``POST https://tr.snapchat.com/v3/{PIXEL_ID}/events?access_token={TOKEN}``; the
  token goes in the query string, not in a header.
  https://developers.snap.com/api/marketing-api/Conversions-API/UsingTheAPI
  https://developers.snap.com/api/marketing-api/Conversions-API/MigrationGuide
  (the official v3 SDK's OpenAPI, Snapchat/business-sdk-v3-java ``api/openapi.yaml``, marks
  ``access_token`` as a required query parameter.)
* Test mode: ``POST /v3/{asset_id}/events/validate?access_token=...`` validates events without
  recording production conversions. Snap has no test-event code.
  https://developers.snap.com/api/marketing-api/Conversions-API/VerifySetUp
* Body ``{"data": [event, ...]}``; an event has ``event_name`` (e.g. ``PURCHASE``), ``event_time``
  (Unix seconds, e.g. 1705508777), ``event_id``, ``action_source`` (``WEB`` / ``MOBILE_APP`` /
  ``OFFLINE``), ``event_source_url``, ``user_data``, ``custom_data`` (``currency``, ``value``
  number, ``order_id``, ``content_ids``, ``contents``, ``num_items``). In ``user_data``, ``em``,
  ``ph``, ``fn``, ``ln``, ``ct``, ``st``, ``zp``, ``country`` are lists of SHA-256 hex strings;
  ``client_ip_address``, ``client_user_agent``, ``sc_click_id``, ``sc_cookie1`` are plain strings.
  https://developers.snap.com/api/marketing-api/Conversions-API/Parameters
* Required per event: event_name, event_time, action_source, event_source_url (web). Answered
  ``INVALID`` / HTTP 400: a missing required field, PURCHASE without price or currency, a timestamp
  out of range, unhashed PII, insufficient PII (VerifySetUp). At least one of email, phone,
  mobile ad id, or IP address + user agent must be sent (JavaBusinessSDK page).
* Events may be at most 37 days old.
  https://developers.snap.com/api/marketing-api/Conversions-API/Introduction
* Normalization before SHA-256 (lowercase hex): email trimmed and lowercased; phone with the
  country code, no leading ``00`` or ``0``, digits only (no ``+``).
  https://developers.snap.com/api/marketing-api/Conversions-API/BestPractices
* Responses (v3 SDK OpenAPI): ``{"status": "VALID"|"INVALID", "reason": str, "event": int,
  "errors": {"codes": [...], "error_msgs": [...]}}`` where ``event`` (index into ``data``) only
  appears on errors; the validate endpoint adds ``test_event`` and per-event ``event_logs``
  ``[{"event": i, "status", "errors", "warnings"}]``.
* Dedup: a Pixel event's ``client_dedup_id`` and a CAPI event's ``event_id`` merge when equal for
  the same pixel; the id "must be unique to that single conversion event"; for PURCHASE it may
  be the transaction id. https://developers.snap.com/api/marketing-api/Conversions-API/Deduplication
* Batch size 2000 events per request: not stated on the pages above; it is the limit used by
  Snap partner integrations (RudderStack's v3 transformer, Tealium's connector).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from omnirelay.destinations.base import (
    DeliveryOutcome,
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    Prepared,
    PreparedRequest,
    all_outcomes,
    classify_by_status,
    payload_float,
    payload_str,
    refused_as_a_whole,
)
from omnirelay.destinations.hashing import (
    NormalizationError,
    hash_normalized,
    identity_value,
    normalize_city,
    normalize_country,
    normalize_email,
    normalize_external_id,
    normalize_name,
    phone_digits_in,
    state_in,
    zip_in,
)

SNAPCHAT_BASE_URL = "https://tr.snapchat.com"
EVENT_WINDOW = timedelta(days=37)
PURCHASE = "PURCHASE"
ACTION_SOURCES = frozenset({"WEB", "OFFLINE"})  # MOBILE_APP needs a Snap App ID + app_data


class SnapchatConversionsApi:
    """Prepares Snapchat CAPI v3 requests and reads Snap's answers."""

    code: ClassVar[str] = "snapchat"
    max_batch_size: ClassVar[int] = 2000
    # Snap's standard event names are upper-case; a consult is the start of the funnel (a
    # sign-up), a prescription has no standard equivalent so it takes a custom slot.
    default_event_names: ClassVar[Mapping[str, str]] = {
        "purchase_completed": PURCHASE,
        "consult_started": "SIGN_UP",
        "rx_issued": "CUSTOM_EVENT_1",
    }

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        prepared = Prepared()
        pixel_id = _setting(target, "pixel_id")
        access_token = _setting(target, "access_token")
        if not pixel_id or not access_token:
            missing = "pixel_id" if not pixel_id else "access_token"
            prepared.rejected = [
                DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, f"snapchat: {missing} missing")
                for e in events
            ]
            return prepared

        now = datetime.now(UTC)
        action_source = str(target.settings.get("action_source") or "WEB").upper()
        if action_source not in ACTION_SOURCES:
            action_source = "WEB"
        fallback_url = _setting(target, "event_source_url")

        accepted: list[tuple[int, dict[str, Any], list[str]]] = []
        for event in events:
            if now - event.event_time > EVENT_WINDOW:
                prepared.rejected.append(
                    DeliveryOutcome(
                        event.delivery_id,
                        Outcome.PERMANENT,
                        "snapchat: event_time older than Snap's 37-day window",
                    )
                )
                continue
            warnings: list[str] = []
            built, reason = _build_event(event, action_source, fallback_url, warnings)
            if built is None:
                prepared.rejected.append(
                    DeliveryOutcome(event.delivery_id, Outcome.PERMANENT, f"snapchat: {reason}")
                )
                continue
            accepted.append((event.delivery_id, built, warnings))

        url = self._url(target, pixel_id, access_token)
        for start in range(0, len(accepted), self.max_batch_size):
            chunk = accepted[start : start + self.max_batch_size]
            prepared.requests.append(
                PreparedRequest(
                    method="POST",
                    url=url,
                    delivery_ids=[delivery_id for delivery_id, _, _ in chunk],
                    json_body={"data": [body for _, body, _ in chunk]},
                    headers={"Content-Type": "application/json"},
                    secrets=[access_token],
                    warnings={d: w for d, _, w in chunk if w},
                )
            )
        return prepared

    @staticmethod
    def _url(target: DestinationTarget, pixel_id: str, access_token: str) -> str:
        base = target.base_url_override or SNAPCHAT_BASE_URL
        path = f"/v3/{quote(pixel_id, safe='')}/events"
        # Snap has no test-event code: test traffic goes to the validate endpoint instead.
        if _truthy(target.settings.get("validate")) or _setting(target, "test_event_code"):
            path += "/validate"
        return f"{base}{path}?{urlencode({'access_token': access_token})}"

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        by_status = classify_by_status(request, result)
        body = result.json()
        if by_status is not None:
            # A 400 INVALID that names the offending event must not sink the rest of the batch.
            if result.status_code == 400 and isinstance(body, dict):
                per_event = _per_event_outcomes(request, body)
                if per_event is not None:
                    return per_event
                return refused_as_a_whole(request, _error_text(body))
            return by_status
        if not isinstance(body, dict) or "status" not in body:
            return all_outcomes(request, Outcome.DELIVERED)  # 2xx: Snap accepted the batch
        per_event = _per_event_outcomes(request, body)
        if per_event is not None:
            return per_event
        if str(body.get("status")).upper() == "VALID":
            return all_outcomes(request, Outcome.DELIVERED)
        return refused_as_a_whole(request, _error_text(body))


def _build_event(
    event: OutboundEvent,
    action_source: str,
    fallback_url: str | None,
    warnings: list[str],
) -> tuple[dict[str, Any] | None, str]:
    """One ``data`` entry, or None and the reason Snap would refuse it."""
    payload = event.payload
    event_name = event.destination_event_name
    is_purchase = event_name.upper() == PURCHASE
    body: dict[str, Any] = {
        "event_name": event_name,
        "event_time": int(event.event_time.timestamp()),
        "event_id": _dedup_id(event, is_purchase),
        "action_source": action_source,
    }
    url = identity_value(payload, "page_url") or fallback_url
    if url:
        body["event_source_url"] = url
    elif action_source == "WEB":
        return None, "event_source_url (page_url) is required for WEB events"

    user_data = _user_data(payload, warnings)
    has_ip_and_agent = "client_ip_address" in user_data and "client_user_agent" in user_data
    if not ("em" in user_data or "ph" in user_data or has_ip_and_agent):
        return None, "insufficient customer data: need email, phone, or IP address + user agent"
    body["user_data"] = user_data

    custom_data = _custom_data(event, is_purchase)
    if is_purchase and "value" not in custom_data:
        return None, "PURCHASE needs a value (order_revenue) and currency"
    if custom_data:
        body["custom_data"] = custom_data
    return body, ""


def _dedup_id(event: OutboundEvent, is_purchase: bool) -> str:
    """The event_id Snap dedups on.

    Snap merges a Pixel event and a CAPI event whose ``client_dedup_id`` / ``event_id`` are equal
    for the same pixel, whatever the event name, and requires the id to be unique per single
    conversion event. One order yields consult_started, rx_issued and purchase_completed with the
    same order id, so a bare order id would collapse them into one conversion: only the purchase
    keeps the bare order id (Snap lets a PURCHASE's id be the transaction id, which is what the
    site's Pixel purchase sends), every other event gets ``"{order_id}:{event_type}"``.
    """
    return event.event_id if is_purchase else f"{event.event_id}:{event.event_type}"


def _user_data(payload: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    country_raw = identity_value(payload, "country")
    region = country_raw.strip().upper() if country_raw and len(country_raw.strip()) == 2 else "US"
    normalizers: dict[str, tuple[str, Callable[[str], str]]] = {
        "em": ("email", normalize_email),
        "ph": ("phone", phone_digits_in(region)),
        "fn": ("first_name", normalize_name),
        "ln": ("last_name", normalize_name),
        "ct": ("city", normalize_city),
        "st": ("state", state_in(region)),
        "zp": ("zip", zip_in(region)),
        "country": ("country", normalize_country),
        "external_id": ("external_id", normalize_external_id),
    }
    user_data: dict[str, Any] = {}
    for key, (field, normalize) in normalizers.items():
        raw = identity_value(payload, field)
        if raw is None:
            continue
        try:
            user_data[key] = [hash_normalized(raw, normalize)]
        except NormalizationError as exc:
            warnings.append(f"snapchat: dropped {field}: {exc}")
    # Sent as is: Snap matches these unhashed.
    plain = {
        "client_ip_address": "client_ip",
        "client_user_agent": "user_agent",
        "sc_click_id": "sc_click_id",
        "sc_cookie1": "sc_cookie1",
    }
    for key, field in plain.items():
        value = identity_value(payload, field)
        if value is not None:
            user_data[key] = value
    return user_data


def _custom_data(event: OutboundEvent, is_purchase: bool) -> dict[str, Any]:
    payload = event.payload
    custom: dict[str, Any] = {}
    value = payload_float(payload, "order_revenue", "value")
    if value is not None:
        custom["value"] = value
        custom["currency"] = (payload_str(payload, "currency") or "USD").upper()
    if is_purchase:
        custom["order_id"] = payload_str(payload, "order_id") or event.event_id
    contents = _contents(payload.get("items"))
    if contents:
        custom["contents"] = contents
        custom["content_ids"] = [c["id"] for c in contents]
        custom["num_items"] = sum(int(c.get("quantity", 1)) for c in contents)
    return custom


def _contents(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    contents: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        item_id = payload_str(item, "id", "item_id", "sku", "product_id")
        if item_id is None:
            continue
        content: dict[str, Any] = {"id": item_id}
        quantity = payload_float(item, "quantity", "qty")
        content["quantity"] = int(quantity) if quantity is not None else 1
        price = payload_float(item, "item_price", "price")
        if price is not None:
            content["item_price"] = price
        contents.append(content)
    return contents


def _per_event_outcomes(
    request: PreparedRequest, body: Mapping[str, Any]
) -> list[DeliveryOutcome] | None:
    """Outcomes from the event indexes Snap names; None when the body names no event."""
    ids = request.delivery_ids
    logs = body.get("event_logs")
    if isinstance(logs, list) and logs:
        # Validate endpoint: one log per event; an event without a log was not rejected.
        failures: dict[int, str] = {}
        for log in logs:
            if not isinstance(log, Mapping):
                continue
            index = log.get("event")
            if isinstance(index, int) and str(log.get("status")).upper() == "INVALID":
                failures[index] = _error_text(log)
        return [
            DeliveryOutcome(d, Outcome.PERMANENT, failures[i])
            if i in failures
            else DeliveryOutcome(d, Outcome.DELIVERED)
            for i, d in enumerate(ids)
        ]
    index = body.get("event")
    if str(body.get("status")).upper() != "INVALID" or not isinstance(index, int):
        return None
    if not 0 <= index < len(ids):
        return None
    # Snap rejects the request at the first invalid event; the others were not recorded and
    # are sent again at once without it (event_id dedups anything Snap did keep).
    error = _error_text(body)
    return [
        DeliveryOutcome(d, Outcome.PERMANENT, error)
        if i == index
        else DeliveryOutcome(d, Outcome.RESEND, f"snapchat: batch rejected by event {index}")
        for i, d in enumerate(ids)
    ]


def _error_text(body: Mapping[str, Any]) -> str:
    parts = [str(body["reason"])] if body.get("reason") else []
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        parts += [str(m) for m in errors.get("error_msgs") or []]
        codes = [str(c) for c in errors.get("codes") or []]
        if codes:
            parts.append(f"codes: {', '.join(codes)}")
    return "snapchat INVALID: " + ("; ".join(parts) if parts else "no reason given")


def _setting(target: DestinationTarget, key: str) -> str | None:
    value = target.credentials.get(key) or target.settings.get(key)
    return str(value).strip() if value is not None and str(value).strip() else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)

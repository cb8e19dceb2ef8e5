"""Google Analytics 4 via the Measurement Protocol (destination code ``ga4``).

Documentation facts this module relies on:

- Transport (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference
  and .../ga4/sending-events): ``POST https://www.google-analytics.com/mp/collect
  ?measurement_id=G-..&api_secret=..`` with a JSON body; EU collection uses
  ``https://region1.google-analytics.com``. The api_secret travels in the query string, so it
  is listed in ``PreparedRequest.secrets``. Body: ``client_id`` (required for web streams),
  ``user_id``, ``timestamp_micros``, ``user_data``, ``events[]`` (required, at most 25 per
  request, all for the one ``client_id``), each ``{name, params}``; body under 130 kB.
- The endpoint answers 2xx whenever the HTTP request arrives, even when the payload is
  malformed or dropped: "The Measurement Protocol does not return HTTP error codes".
  The validation server (.../ga4/validating-events) is the same request sent to
  ``/debug/mp/collect``; it answers ``{"validationMessages": [{fieldPath, description,
  validationCode}]}`` (codes VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED,
  VALUE_OUT_OF_BOUNDS, EXCEEDED_MAX_ENTITIES, NAME_DUPLICATED), records nothing in reports
  and does not check the api_secret. ``target.settings["validate"] = True`` switches to it;
  every validation message is a PERMANENT outcome (the same payload can never pass).
- Names (.../ga4/sending-events "Limitations", support.google.com/analytics/answer/13316687):
  event names are letters, digits and underscores, start with a letter, at most 40
  characters; reserved event names (session_start, first_visit, ...) and the prefixes
  ``_``, ``firebase_``, ``ga_``, ``google_``, ``gtag.`` are rejected; at most 25 params per
  event; param values at most 100 characters (longer strings are truncated here).
- ``timestamp_micros`` backdates an event by at most 72 hours (sending-events, use-cases
  page: ">= request time minus 72 hours"); older events are rejected PERMANENT here
  instead of being silently dropped by Google.
- ``transaction_id`` is GA4's purchase dedup key; GA4 dedups on it only for purchase
  events, so the raw order id is sent for every event name (no per-event-type suffix).
- user_data (.../ga4/uid-data, same rules as Google Ads enhanced conversions): hex SHA-256 of
  ``sha256_email_address`` (trimmed, lowercase, periods before ``@`` removed for gmail.com /
  googlemail.com - the ``+tag`` is kept), ``sha256_phone_number`` (E.164 with ``+``), and in
  ``address[]`` ``sha256_first_name`` / ``sha256_last_name`` / ``sha256_street`` (symbols and
  digits removed from names, lowercase, trimmed); ``city``, ``region`` (digits and symbols
  removed, lowercase), ``postal_code`` (``.`` and ``~`` removed) and ``country`` (ISO 3166-1
  alpha-2) are sent in clear. The page recommends ``user_id`` with ``user_data``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlencode

from omnirelay.destinations.base import (
    DeliveryOutcome,
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    Prepared,
    PreparedRequest,
    classify_by_status,
    payload_float,
    payload_str,
)
from omnirelay.destinations.hashing import (
    NormalizationError,
    hash_normalized,
    identity_value,
    is_sha256_hex,
    normalize_email,
    phone_e164_in,
)

GA4_ORIGIN = "https://www.google-analytics.com"
GA4_EU_ORIGIN = "https://region1.google-analytics.com"
COLLECT_PATH = "/mp/collect"
DEBUG_COLLECT_PATH = "/debug/mp/collect"

MAX_EVENTS_PER_REQUEST = 25
MAX_PARAMS_PER_EVENT = 25
MAX_NAME_LENGTH = 40
MAX_PARAM_VALUE_LENGTH = 100
BACKDATE_WINDOW = timedelta(hours=72)

# The Measurement Protocol's reserved event names (sending-events "Reserved names").
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_background", "app_clear_data", "app_exception", "app_remove", "app_store_refund",
        "app_store_subscription_cancel", "app_store_subscription_convert",
        "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
        "dynamic_link_app_update", "dynamic_link_first_open", "error", "firebase_campaign",
        "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression", "first_open", "first_visit", "in_app_purchase",
        "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "os_update", "session_start", "session_start_with_rollout",
        "user_engagement",
    }
)  # fmt: skip
RESERVED_NAME_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
_VALID_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INVALID_NAME_CHARS_RE = re.compile(r"[^A-Za-z0-9_]+")
UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id")

DEFAULT_EVENT_NAMES: Mapping[str, str] = {
    "purchase_completed": "purchase",
    "consult_started": "generate_lead",
    "rx_issued": "rx_issued",
}


class InvalidEventName(ValueError):
    """An event name GA4 would drop even after mechanical sanitizing."""


def event_name_problem(name: str) -> tuple[str, str] | None:
    """``(validationCode, reason)`` if ``name`` breaks GA4's naming rules, else None."""
    if not name:
        return "VALUE_REQUIRED", "name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return "VALUE_OUT_OF_BOUNDS", f"name is longer than {MAX_NAME_LENGTH} characters"
    if not _VALID_NAME_RE.match(name):
        return "NAME_INVALID", "names must start with a letter and use letters, digits, _"
    if name in RESERVED_EVENT_NAMES or name.startswith(RESERVED_NAME_PREFIXES):
        return "NAME_RESERVED", "name or its prefix is reserved"
    return None


def ga4_event_name(raw: str) -> tuple[str, bool]:
    """The GA4 event name for a configured name, and whether it had to be sanitized.

    Decision: characters GA4 forbids (``-``, ``.``, spaces; OMS names like ``rx-issued``)
    become ``_`` because the intent is obvious and dropping the event would lose data. A
    name that is still invalid - reserved, a reserved prefix, not starting with a letter,
    longer than 40 - raises InvalidEventName (PERMANENT): renaming it would silently
    change its meaning (``session_start`` is not ours to send), so the mapping must be fixed.
    """
    name = raw.strip()
    if name.startswith(RESERVED_NAME_PREFIXES):
        # checked before sanitizing, which could otherwise mask "gtag." as "gtag_"
        raise InvalidEventName(f"event name {raw!r}: name or its prefix is reserved")
    sanitized = _INVALID_NAME_CHARS_RE.sub("_", name).strip("_")
    problem = event_name_problem(sanitized)
    if problem is not None:
        raise InvalidEventName(f"event name {raw!r}: {problem[1]}")
    return sanitized, sanitized != raw


def client_id_for(event: OutboundEvent) -> str:
    """The GA4 ``client_id``: the browser's GA id (``ga_client_id``) if the OMS captured one,
    else ``session_id`` (the spec's choice). An OMS ``client_id`` key is not used: in an OMS
    it may well name a customer or tenant.

    Without either, a stable id derived from the storefront and order id, shaped like the
    ``_ga`` cookie value (``<random>.<timestamp>``). Stable matters: every event of one
    order (consult_started, rx_issued, purchase_completed) and every retry lands on the same
    pseudo-client, so GA4 shows one user's funnel instead of a new "user" per delivery.
    """
    explicit = payload_str(event.payload, "ga_client_id", "session_id")
    if explicit:
        return explicit
    digest = hashlib.sha256(f"omnirelay:{event.storefront_code}:{event.event_id}".encode())
    hex_digest = digest.hexdigest()
    return f"{int(hex_digest[:8], 16)}.{int(hex_digest[8:16], 16)}"


def normalize_email_ga4(value: str) -> str:
    """Google's rule: lowercase, trim, drop dots before ``@`` for gmail/googlemail only."""
    email = normalize_email(value)
    local, _, domain = email.partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        email = f"{local.replace('.', '')}@{domain}"
    return email


def _letters_and_spaces(value: str, *, keep_digits: bool = False, in_clear: bool = False) -> str:
    """Remove symbol characters (and digits unless kept), lowercase, trim, single spaces.

    ``in_clear`` fields (city, region) are sent unhashed, so an already hashed value is unusable.
    """
    if in_clear and is_sha256_hex(value):
        raise NormalizationError("value is hashed but GA4 wants it in clear")
    text = unicodedata.normalize("NFC", value).lower()
    kept = "".join(
        ch for ch in text if ch.isalpha() or ch.isspace() or (keep_digits and ch.isdigit())
    )
    if not kept.strip():
        raise NormalizationError("value has no letters")
    return " ".join(kept.split())


normalize_name_ga4 = partial(_letters_and_spaces)
normalize_street_ga4 = partial(_letters_and_spaces, keep_digits=True)
normalize_place_ga4 = partial(_letters_and_spaces, in_clear=True)


def normalize_postal_code_ga4(value: str) -> str:
    text = re.sub(r"[.~]", "", value).strip()
    if not text or is_sha256_hex(text):
        raise NormalizationError("postal code is empty or hashed (GA4 wants it in clear)")
    return text


def normalize_country_ga4(value: str) -> str:
    text = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", text):
        raise NormalizationError("country must be an ISO 3166-1 alpha-2 code")
    return text


def _normalized(
    value: str | None, normalize: Callable[[str], str], field: str, warnings: list[str]
) -> str | None:
    """Apply ``normalize``; on NormalizationError drop the field with a warning."""
    if value is None:
        return None
    try:
        return normalize(value)
    except NormalizationError as exc:
        warnings.append(f"user_data.{field} dropped: {exc}")
        return None


def build_user_data(payload: Mapping[str, Any], warnings: list[str]) -> dict[str, Any] | None:
    """GA4 ``user_data`` from the payload's customer data; None when nothing usable.

    Hashed fields accept an already-hashed 64-hex value as is; a value that cannot be
    normalized is dropped with a warning, never sent raw.
    """
    country = identity_value(payload, "country")
    phone_region = country.strip().upper() if country and len(country.strip()) == 2 else "US"

    def hashed(normalize: Callable[[str], str]) -> Callable[[str], str]:
        return lambda raw: hash_normalized(raw, normalize)

    user_data: dict[str, Any] = {}
    email = _normalized(
        identity_value(payload, "email"), hashed(normalize_email_ga4), "email", warnings
    )
    if email:
        user_data["sha256_email_address"] = [email]
    phone = _normalized(
        identity_value(payload, "phone"), hashed(phone_e164_in(phone_region)), "phone", warnings
    )
    if phone:
        user_data["sha256_phone_number"] = [phone]

    street = payload_str(payload, "street", "street_address", "address1", "address_line1")
    address_fields: list[tuple[str, str | None, Callable[[str], str]]] = [
        ("sha256_first_name", identity_value(payload, "first_name"), hashed(normalize_name_ga4)),
        ("sha256_last_name", identity_value(payload, "last_name"), hashed(normalize_name_ga4)),
        ("sha256_street", street, hashed(normalize_street_ga4)),
        ("city", identity_value(payload, "city"), normalize_place_ga4),
        ("region", identity_value(payload, "state"), normalize_place_ga4),
        ("postal_code", identity_value(payload, "zip"), normalize_postal_code_ga4),
        ("country", country, normalize_country_ga4),
    ]
    address: dict[str, str] = {}
    for key, raw, normalize in address_fields:
        value = _normalized(raw, normalize, f"address.{key}", warnings)
        if value:
            address[key] = value
    if address:
        user_data["address"] = [address]
    return user_data or None


def _param_value(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_PARAM_VALUE_LENGTH]
    return value


_ITEM_TEXT_KEYS = ("item_id", "item_name", "item_brand", "item_category", "item_variant")


def _items(payload: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """GA4 ``items`` from the OMS line items (each needs item_id or item_name)."""
    raw_items = payload.get("items")
    items: list[dict[str, Any]] = []
    for raw in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(raw, Mapping):
            continue
        item: dict[str, Any] = {
            key: _param_value(str(raw[key])) for key in _ITEM_TEXT_KEYS if payload_str(raw, key)
        }
        for key, aliases in (("item_id", ("sku", "product_id")), ("item_name", ("name",))):
            alias_value = payload_str(raw, *aliases)
            if key not in item and alias_value:
                item[key] = _param_value(alias_value)
        price, quantity = payload_float(raw, "price"), payload_float(raw, "quantity")
        if price is not None:
            item["price"] = price  # GA4 wants numbers; the OMS may send "10.00"
        if quantity is not None:
            item["quantity"] = int(quantity)
        if "item_id" in item or "item_name" in item:
            items.append(item)
    return items or None


def build_event_params(event: OutboundEvent, *, debug_mode: bool = False) -> dict[str, Any]:
    """Event params: the seed's transaction_id/value/currency/storefront_id/utm_*, plus
    the GA session and engagement time when the OMS captured them."""
    payload = event.payload
    params: dict[str, Any] = {"transaction_id": event.event_id}
    value = payload_float(payload, "order_revenue", "value")
    if value is not None:
        params["value"] = value
        params["currency"] = (payload_str(payload, "currency") or "USD").upper()
    params["storefront_id"] = payload_str(payload, "storefront_id") or event.storefront_code
    for key in UTM_PARAMS:
        utm = payload_str(payload, key)
        if utm:
            params[key] = utm
    # GA4's session_id is the numeric id from the _ga_<stream> cookie; an OMS session token
    # like "sess_456" would open a bogus session, so it only serves as client_id.
    session = payload_str(payload, "ga_session_id", "session_id")
    if session and session.isdigit():
        params["session_id"] = session
    engagement = payload_float(payload, "engagement_time_msec")
    if engagement is not None:
        params["engagement_time_msec"] = int(engagement)
    items = _items(payload)
    if items:
        params["items"] = items
    if debug_mode:
        params["debug_mode"] = True  # shows the event in GA4 DebugView
    return {key: _param_value(val) for key, val in params.items()}


def build_mp_body(
    event: OutboundEvent, event_name: str, warnings: list[str], *, debug_mode: bool = False
) -> dict[str, Any]:
    """One Measurement Protocol body carrying one event (shared with the sGTM GA4 client)."""
    now = datetime.now(UTC)
    # timestamp_micros may only point to the past; clamp a clock-skewed future time
    event_time = min(event.event_time, now)
    body: dict[str, Any] = {
        "client_id": client_id_for(event),
        "timestamp_micros": int(event_time.timestamp() * 1_000_000),
    }
    user_id = identity_value(event.payload, "external_id")
    if user_id and "@" not in user_id:  # GA4 policy: user_id must not carry PII
        body["user_id"] = user_id
    user_data = build_user_data(event.payload, warnings)
    if user_data:
        body["user_data"] = user_data
    body["events"] = [
        {"name": event_name, "params": build_event_params(event, debug_mode=debug_mode)}
    ]
    return body


def prepare_mp_requests(
    events: Sequence[OutboundEvent],
    *,
    collect_url: str,
    secrets: list[str],
    enforce_backdate_window: bool,
    debug_mode: bool = False,
) -> Prepared:
    """One POST per event to ``collect_url``; invalid names and stale events rejected."""
    prepared = Prepared()
    oldest_allowed = datetime.now(UTC) - BACKDATE_WINDOW
    for event in events:
        if enforce_backdate_window and event.event_time < oldest_allowed:
            reason = (
                f"event_time {event.event_time.isoformat()} is older than GA4's 72-hour "
                "timestamp_micros window"
            )
            prepared.rejected.append(DeliveryOutcome(event.delivery_id, Outcome.PERMANENT, reason))
            continue
        configured_name = event.destination_event_name or event.event_type
        try:
            name, sanitized = ga4_event_name(configured_name)
        except InvalidEventName as exc:
            prepared.rejected.append(
                DeliveryOutcome(event.delivery_id, Outcome.PERMANENT, str(exc))
            )
            continue
        warnings: list[str] = []
        if sanitized:
            warnings.append(f"event name {configured_name!r} sent as {name!r}")
        body = build_mp_body(event, name, warnings, debug_mode=debug_mode)
        request = PreparedRequest(
            method="POST",
            url=collect_url,
            delivery_ids=[event.delivery_id],
            json_body=body,
            headers={"Content-Type": "application/json"},
            secrets=list(secrets),
        )
        if warnings:
            request.warnings[event.delivery_id] = warnings
        prepared.requests.append(request)
    return prepared


_EVENT_INDEX_RE = re.compile(r"index:?\s*\[(\d+)\]")


def classify_validation_messages(
    request: PreparedRequest, messages: Sequence[Any]
) -> list[DeliveryOutcome]:
    """Map ``validationMessages`` to deliveries: a message naming ``Event at index: [i]``
    sinks only that event; any other message (client_id, user_data...) sinks them all."""
    per_delivery: dict[int, list[str]] = {d: [] for d in request.delivery_ids}
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        text = (
            f"{message.get('validationCode', 'INVALID')} at {message.get('fieldPath', '?')}: "
            f"{message.get('description', '')}"
        )
        match = _EVENT_INDEX_RE.search(str(message.get("description", "")))
        index = int(match.group(1)) if match else None
        if index is not None and index < len(request.delivery_ids):
            per_delivery[request.delivery_ids[index]].append(text)
        else:
            for errors in per_delivery.values():
                errors.append(text)
    return [
        DeliveryOutcome(d, Outcome.PERMANENT, "; ".join(errors)[:1000])
        if errors
        else DeliveryOutcome(d, Outcome.DELIVERED)
        for d, errors in per_delivery.items()
    ]


def classify_mp_result(request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
    """Transport/status first; a 2xx is delivered unless it carries validationMessages
    (only the debug endpoint sends them - the real one answers 2xx with an empty body)."""
    by_status = classify_by_status(request, result)
    if by_status is not None:
        return by_status
    body = result.json()
    messages = body.get("validationMessages") if isinstance(body, Mapping) else None
    if isinstance(messages, list):
        return classify_validation_messages(request, messages)
    return [DeliveryOutcome(d, Outcome.DELIVERED) for d in request.delivery_ids]


def _setting(target: DestinationTarget, key: str) -> str | None:
    value = target.settings.get(key) or target.credentials.get(key)
    return str(value).strip() if value is not None and str(value).strip() else None


def _flag(target: DestinationTarget, key: str) -> bool:
    value = target.settings.get(key)
    return value is True or str(value).lower() in ("1", "true", "yes")


def reject_all(events: Sequence[OutboundEvent], reason: str) -> Prepared:
    return Prepared(
        rejected=[DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, reason) for e in events]
    )


class Ga4MeasurementProtocol:
    """GA4 Measurement Protocol, one request per event.

    GA4 accepts up to 25 events per request but all of them belong to the request's one
    ``client_id``, and the endpoint gives a single, empty 2xx for the whole request. One
    request per event (``max_batch_size = 1``) keeps every delivery's outcome its own: a
    retry resends exactly that event (never duplicating its neighbours in GA4, which has
    no event-level dedup outside purchases) and the debug endpoint's messages map to it.
    ``settings["validate"]`` sends to ``/debug/mp/collect`` (nothing reaches reports);
    ``settings["debug_mode"]`` or a ``test_event_code`` adds ``debug_mode`` for DebugView;
    ``settings["region"] == "eu"`` uses the EU collection host.
    """

    code: ClassVar[str] = "ga4"
    max_batch_size: ClassVar[int] = 1
    default_event_names: ClassVar[Mapping[str, str]] = DEFAULT_EVENT_NAMES

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        measurement_id = _setting(target, "measurement_id")
        api_secret = str(target.credentials.get("api_secret") or "").strip() or None
        required = (("measurement_id", measurement_id), ("api_secret", api_secret))
        missing = ", ".join(name for name, value in required if not value)
        if measurement_id is None or api_secret is None:
            return reject_all(events, f"missing GA4 credentials: {missing}")
        region = str(target.settings.get("region") or "").lower()
        origin = target.base_url_override or (GA4_EU_ORIGIN if region == "eu" else GA4_ORIGIN)
        path = DEBUG_COLLECT_PATH if _flag(target, "validate") else COLLECT_PATH
        query = urlencode({"measurement_id": measurement_id, "api_secret": api_secret})
        debug_mode = _flag(target, "debug_mode") or bool(_setting(target, "test_event_code"))
        return prepare_mp_requests(
            events,
            collect_url=f"{origin}{path}?{query}",
            secrets=[api_secret],
            enforce_backdate_window=True,
            debug_mode=debug_mode,
        )

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        return classify_mp_result(request, result)

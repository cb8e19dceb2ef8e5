"""Generic webhook: each event POSTed as JSON to a URL of the storefront's choosing.

Credentials (see ``ad_analytics_platforms`` code ``webhook``):

* ``url`` (required): http(s) endpoint. With a ``base_url`` override (proxy / sandbox) the
  request goes to ``base_url`` + the path and query of ``url``, like every other destination.
* ``secret`` (optional): HMAC-SHA256 signing secret. When set, every request carries
  ``X-Omnirelay-Signature: t=<unix seconds>,v1=<hex hmac(secret, "<t>.<body>")>`` (the scheme
  Stripe uses), where ``<body>`` is exactly the bytes sent (``PreparedRequest.body_bytes()``).
  Receivers check it with :func:`verify_signature`.
* ``headers`` (optional): JSON object of extra request headers (e.g. ``Authorization``).

Settings: ``batch_size`` (1 by default, at most 500). With 1, each request's body is one event::

    {"event_id": "...", "event_name": "Purchase", "event_type": "purchase_completed",
     "event_time": "2025-02-01T10:00:00+00:00", "storefront_id": "shop-eu", "payload": {...}}

Above 1, up to ``batch_size`` events go in one request as ``{"events": [event, ...]}``.

``event_name`` is the mapped name; with no mapping configured it is the omnirelay name
(``default_event_names`` is empty). Any 2xx is delivered; everything else follows
:func:`~omnirelay.destinations.base.classify_by_status` (408/425/429/5xx and transport errors
retry, other statuses are permanent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
)

SIGNATURE_HEADER = "X-Omnirelay-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
DEFAULT_BATCH_SIZE = 1
MAX_BATCH_SIZE = 500
USER_AGENT = "omnirelay-webhook/1"

# Custom headers that never carry a secret; every other custom header value is scrubbed.
_PUBLIC_HEADERS = frozenset({"accept", "content-type", "user-agent", "accept-encoding"})


class GenericWebhook:
    """Prepares webhook POSTs (optionally HMAC-signed) and reads the receiver's answer."""

    code: ClassVar[str] = "webhook"
    # The upper bound of settings["batch_size"]; unbatched (one event per request) by default.
    max_batch_size: ClassVar[int] = MAX_BATCH_SIZE
    default_event_names: ClassVar[Mapping[str, str]] = {}

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # unix seconds for the signature timestamp

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        prepared = Prepared()
        if not events:
            return prepared
        try:
            url = _url(target)
            custom_headers = _custom_headers(target.credentials.get("headers"))
        except ValueError as exc:
            prepared.rejected = [
                DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, f"webhook: {exc}") for e in events
            ]
            return prepared

        secret = _secret(target)
        batch_size = _batch_size(target.settings.get("batch_size"))
        secrets = _scrubbed_values(custom_headers)
        if secret:
            secrets.append(secret)

        bodies = [(event.delivery_id, _event_body(event)) for event in events]
        for start in range(0, len(bodies), batch_size):
            chunk = bodies[start : start + batch_size]
            json_body: Any = (
                chunk[0][1] if batch_size == 1 else {"events": [body for _, body in chunk]}
            )
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
            for name, value in custom_headers.items():
                _drop_header(headers, name)
                headers[name] = value
            request = PreparedRequest(
                method="POST",
                url=url,
                delivery_ids=[delivery_id for delivery_id, _ in chunk],
                json_body=json_body,
                headers=headers,
                secrets=list(secrets),
            )
            if secret:
                _drop_header(request.headers, SIGNATURE_HEADER)
                request.headers[SIGNATURE_HEADER] = sign(
                    secret, request.body_bytes(), int(self._clock())
                )
            prepared.requests.append(request)
        return prepared

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        by_status = classify_by_status(request, result)
        if by_status is not None:
            return by_status
        return all_outcomes(request, Outcome.DELIVERED)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Omnirelay-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    tolerance_s: float | None = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """For receivers: is ``header`` a valid ``X-Omnirelay-Signature`` of ``body``?

    ``body`` must be the raw request body, byte for byte. The timestamp must lie within
    ``tolerance_s`` seconds of ``now`` (default: the current time) in either direction, which
    bounds replays; ``tolerance_s=None`` skips that check. Several ``v1`` entries may be
    present (e.g. during a secret rotation); one match is enough.
    """
    if not secret or not header or not isinstance(body, bytes | bytearray):
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SIGNATURE_SCHEME and value:
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        return False
    if tolerance_s is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance_s:
            return False
    expected = _digest(secret, timestamp, bytes(body))
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _event_body(event: OutboundEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.destination_event_name or event.event_type,
        "event_type": event.event_type,
        "event_time": event.event_time.astimezone(UTC).isoformat(),
        "storefront_id": event.storefront_code,
        "payload": _jsonable(event.payload),
    }


def _jsonable(payload: Mapping[str, Any]) -> Any:
    """The payload as plain JSON types, so ``body_bytes()`` (and the signature) cannot fail on
    a Decimal or datetime that slipped in."""
    return json.loads(json.dumps(dict(payload), default=str, ensure_ascii=False))


def _url(target: DestinationTarget) -> str:
    raw = target.credentials.get("url")
    url = str(raw).strip() if raw is not None else ""
    if not url:
        raise ValueError("credentials.url is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("credentials.url must be an absolute http(s) URL")
    override = target.base_url_override
    if not override:
        return url
    path = parts.path or ""
    return f"{override}{path}" + (f"?{parts.query}" if parts.query else "")


def _secret(target: DestinationTarget) -> str | None:
    value = target.credentials.get("secret")
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _custom_headers(raw: Any) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueError("credentials.headers must be a JSON object") from None
    if not isinstance(raw, Mapping):
        raise ValueError("credentials.headers must be a JSON object")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        key = str(name).strip()
        text = "" if value is None else str(value)
        if not key or any(c in key for c in ":\r\n") or any(c in text for c in "\r\n"):
            raise ValueError(f"credentials.headers has an invalid header {key!r}")
        headers[key] = text
    return headers


def _scrubbed_values(headers: Mapping[str, str]) -> list[str]:
    return [v for k, v in headers.items() if k.lower() not in _PUBLIC_HEADERS and v.strip()]


def _drop_header(headers: dict[str, str], name: str) -> None:
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]


def _batch_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return DEFAULT_BATCH_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError):
        return DEFAULT_BATCH_SIZE
    return max(1, min(size, MAX_BATCH_SIZE))

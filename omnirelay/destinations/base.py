"""The contract every destination module fulfils.

A destination turns a group of outbound events into HTTP requests (``prepare``) and turns
each HTTP result back into one outcome per delivery (``classify``). Both are pure: no
database, no network. The delivery engine owns sending, timing, retries and the audit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import orjson


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: network, timeout, 408, 429, 5xx, platform "try later" codes
    PERMANENT = "permanent"  # invalid payload or credentials: retrying cannot help
    # The platform refused the whole request because of some event in it and did not say
    # which: the engine sends the events again in halves until the bad one stands alone.
    SPLIT = "split"
    # Not processed because the platform refused other events of the same request (which it
    # named): sent again at once without them, not charged an attempt.
    RESEND = "resend"
    # One step of a delivery made of several requests (look a campaign up, then create
    # it) went through: the kind prepares the next step, sent at once in the same attempt.
    NEXT_STEP = "step"


@dataclass(slots=True)
class OutboundEvent:
    """One (event, destination) delivery as the destination sees it. Not frozen: the
    engine makes one per delivery on its hot path, and a frozen dataclass takes four times
    as long to build; nothing changes one once made."""

    delivery_id: int
    event_id: str  # the source event id (order id): the platform's dedup key
    event_type: str  # omnirelay event name, e.g. "purchase_completed"
    destination_event_name: str  # after the per-destination mapping, e.g. "Purchase"
    event_time: datetime  # aware, UTC
    storefront_code: str
    payload: Mapping[str, Any]  # the event_payload as the OMS sent it
    # the same payload as the JSON text it was read from, when there is one
    payload_json: str | None = field(default=None, compare=False, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # To a preparing process (omnirelay.relay.preparing) the payload travels as
        # JSON: the stored text as it is, or one orjson call, instead of pickling a dict of
        # a few dozen values per event. Anything that is not JSON (a test's datetime) is
        # pickled as it is.
        payload: Any = self.payload_json
        if payload is None:
            try:
                payload = orjson.dumps(self.payload, option=_JSON_ONLY)
            except TypeError:
                payload = dict(self.payload)
        return (
            _outbound_event,
            (
                self.delivery_id,
                self.event_id,
                self.event_type,
                self.destination_event_name,
                self.event_time,
                self.storefront_code,
                payload,
            ),
        )


_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _outbound_event(
    delivery_id: int,
    event_id: str,
    event_type: str,
    destination_event_name: str,
    event_time: datetime,
    storefront_code: str,
    payload: Any,
) -> OutboundEvent:
    return OutboundEvent(
        delivery_id,
        event_id,
        event_type,
        destination_event_name,
        event_time,
        storefront_code,
        orjson.loads(payload) if isinstance(payload, bytes | str) else payload,
    )


@dataclass(frozen=True)
class DestinationTarget:
    """Where and as whom to send: decrypted credentials plus non-secret settings."""

    credentials: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_url_override(self) -> str | None:
        value = self.settings.get("base_url") or self.credentials.get("base_url")
        return str(value).rstrip("/") if value else None


@dataclass
class PreparedRequest:
    method: str
    url: str
    delivery_ids: list[int]
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # the raw secret values the request carries (in its URL, headers or body): masked, in
    # every form they can take (URL-encoded, JSON-escaped, base64, ...), in everything
    # recorded about the request (omnirelay.redaction derives the forms)
    secrets: list[str] = field(default_factory=list)
    # per delivery: data dropped because it could not be normalized, etc.
    warnings: dict[int, list[str]] = field(default_factory=dict)
    body: bytes | None = None  # set by serialized(): the body as bytes, the object tree gone

    @property
    def has_body(self) -> bool:
        return self.body is not None or self.json_body is not None

    def serialized(self) -> PreparedRequest:
        """This request with its body fixed as bytes and the object tree dropped: what
        crosses back from a preparing process (and still exactly what is sent)."""
        self.body = self.body_bytes()
        self.json_body = None
        return self

    def parsed_body(self) -> Any:
        """The body as JSON objects, read back from the bytes once serialized."""
        if self.json_body is None and self.body:
            return orjson.loads(self.body)
        return self.json_body

    def body_bytes(self) -> bytes:
        """The exact bytes sent (and signed, and audited)."""
        if self.body is not None:
            return self.body
        if self.json_body is None:
            return b""
        try:
            return orjson.dumps(self.json_body)
        except TypeError:  # a value orjson does not know: fall back to str()
            return json.dumps(
                self.json_body, separators=(",", ":"), ensure_ascii=False, default=str
            ).encode()


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: int
    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After or the platform's hint
    # what a successful send returned that later steps need (a deploy's platform id),
    # kept on the delivery
    result: Any = None


@dataclass
class Prepared:
    requests: list[PreparedRequest] = field(default_factory=list)
    rejected: list[DeliveryOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class HttpResult:
    """What came back: a response, or a transport error (``error`` set, status None)."""

    status_code: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    error: str | None = None  # "timeout: ...", "network: ..."
    # an error that sending again cannot mend (a destination address that is not allowed)
    permanent: bool = False

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Destination(Protocol):
    code: ClassVar[str]  # matches ad_analytics_platforms.platform_code (or "sgtm", "webhook")
    max_batch_size: ClassVar[int]  # events per request, the platform's documented limit
    default_event_names: ClassVar[Mapping[str, str]]  # omnirelay name -> platform name

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        """Split into requests of at most ``max_batch_size`` events; events that can never
        be accepted (e.g. older than the platform's event-time window, a required field
        missing) come back in ``rejected`` as PERMANENT outcomes and are not sent."""
        ...

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]: ...


RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if any."""
    from email.utils import parsedate_to_datetime

    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    from datetime import UTC

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_by_status(
    request: PreparedRequest, result: HttpResult
) -> list[DeliveryOutcome] | None:
    """The HTTP-level verdict shared by every destination.

    Returns outcomes for transport errors (retried, unless the error is ``permanent``) and
    non-2xx statuses; returns None for a 2xx so the destination can read its body (several
    platforms answer 200 with errors inside).
    """
    if result.status_code is None:
        outcome = Outcome.PERMANENT if result.permanent else Outcome.RETRY
        return _all(request, outcome, result.error or "network error")
    status = result.status_code
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status}: {result.body[:300]}" if result.body else f"HTTP {status}"
    if status in RETRYABLE_STATUSES:
        return _all(request, Outcome.RETRY, detail, parse_retry_after(result.headers))
    return _all(request, Outcome.PERMANENT, detail)


def _all(
    request: PreparedRequest, outcome: Outcome, error: str | None, retry_after: float | None = None
) -> list[DeliveryOutcome]:
    return [DeliveryOutcome(d, outcome, error, retry_after) for d in request.delivery_ids]


def all_outcomes(
    request: PreparedRequest,
    outcome: Outcome,
    error: str | None = None,
    retry_after: float | None = None,
) -> list[DeliveryOutcome]:
    """The same outcome for every delivery the request carried."""
    return _all(request, outcome, error, retry_after)


def refused_as_a_whole(request: PreparedRequest, detail: str) -> list[DeliveryOutcome]:
    """A request refused for invalid content: SPLIT when it carried several events (so one
    bad event cannot sink the others), PERMANENT when it carried one."""
    outcome = Outcome.SPLIT if len(request.delivery_ids) > 1 else Outcome.PERMANENT
    return _all(request, outcome, detail)


def payload_str(payload: Mapping[str, Any], *keys: str) -> str | None:
    """First non-empty value among ``keys``, as a stripped string."""
    for key in keys:
        value = payload.get(key)
        if value is not None and str(value).strip() != "":
            return str(value).strip()
    return None


def payload_float(payload: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = payload.get(key)
        if value is None or value == "":
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None

"""Server-side Google Tag Manager: the two client types of the product spec (seed 001).

- ``sgtm_ga4`` (``SgtmGa4Client``): the container's GA4 / Measurement Protocol client. The
  request is a GA4 Measurement Protocol hit, ``POST {sgtm_url}/mp/collect?measurement_id=
  G-..&api_secret=..`` with ``{"client_id": <session_id>, "events": [{"name": "purchase",
  "params": {"transaction_id", "value", "currency", "storefront_id", "utm_*"}}]}``; the
  body comes from ``ga4.build_mp_body`` so both destinations send the same, documented
  GA4 shape (names, hashed ``user_data`` the container's tags can forward to Meta CAPI and
  others, ``timestamp_micros``). The 72-hour backdating limit is GA4's own, not sGTM's,
  so it is not enforced here: the container's tags decide what they forward.
- ``sgtm_custom`` (``SgtmCustomClient``): a custom container client. ``POST {sgtm_url}
  {custom_endpoint_path or "/collect"}`` with every payload field passed through plus
  ``event_name`` and ``storefront_id``, and the configured ``custom_headers``.

Configuration: ``target.settings`` carries ``sgtm_url``, ``measurement_id`` and
``custom_endpoint_path``; ``target.credentials`` carries ``api_secret`` (recommended, not
required, for the GA4 client - spec table) and ``custom_headers``. Credential header values
are secrets (API keys), so they are listed in ``PreparedRequest.secrets``, as is the
api_secret that travels in the URL. ``target.base_url_override`` replaces ``sgtm_url``.
One event per request for both (``max_batch_size = 1``): the container answers once per
request, and a client template processes one event per incoming request.
A 2xx is delivered; any other answer is judged by ``classify_by_status``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    all_outcomes,
    classify_by_status,
)
from omnirelay.destinations.ga4 import (
    COLLECT_PATH,
    DEFAULT_EVENT_NAMES,
    prepare_mp_requests,
    reject_all,
)

DEFAULT_CUSTOM_PATH = "/collect"


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return str(value).strip() if value is not None and str(value).strip() else None


def sgtm_base_url(target: DestinationTarget) -> str | None:
    """The container's origin: the sandbox/base_url override, else ``sgtm_url``."""
    base = target.base_url_override or _text(target.settings, "sgtm_url")
    base = base or _text(target.credentials, "sgtm_url")
    return base.rstrip("/") if base else None


def classify_2xx_delivered(request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
    """sGTM clients answer with whatever their template sets; any 2xx means it was claimed."""
    by_status = classify_by_status(request, result)
    if by_status is not None:
        return by_status
    return all_outcomes(request, Outcome.DELIVERED)


class SgtmGa4Client:
    """sGTM through its GA4 (Measurement Protocol) client - the spec's default client type."""

    code: ClassVar[str] = "sgtm_ga4"
    max_batch_size: ClassVar[int] = 1
    default_event_names: ClassVar[Mapping[str, str]] = DEFAULT_EVENT_NAMES

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        base = sgtm_base_url(target)
        measurement_id = _text(target.settings, "measurement_id") or _text(
            target.credentials, "measurement_id"
        )
        missing = [
            name for name, value in (("sgtm_url", base), ("measurement_id", measurement_id))
            if not value
        ]  # fmt: skip
        if base is None or measurement_id is None:
            return reject_all(events, f"missing sGTM GA4 client settings: {', '.join(missing)}")
        query: dict[str, str] = {"measurement_id": measurement_id}
        api_secret = _text(target.credentials, "api_secret")
        if api_secret:
            query["api_secret"] = api_secret
        return prepare_mp_requests(
            events,
            collect_url=f"{base}{COLLECT_PATH}?{urlencode(query)}",
            secrets=[api_secret] if api_secret else [],
            enforce_backdate_window=False,
        )

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        return classify_2xx_delivered(request, result)


def custom_headers(target: DestinationTarget) -> tuple[dict[str, str], list[str]]:
    """Headers from settings (not secret) overlaid by credentials (secret values).

    Raises ValueError when ``custom_headers`` is neither a JSON object nor a mapping.
    """
    headers: dict[str, str] = {}
    secrets: list[str] = []
    for source, secret in ((target.settings, False), (target.credentials, True)):
        raw = source.get("custom_headers")
        if raw in (None, "", {}):
            continue
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ValueError("custom_headers is not valid JSON") from None
        if not isinstance(raw, Mapping):
            raise ValueError("custom_headers must be a JSON object of header: value")
        for name, value in raw.items():
            headers[str(name)] = str(value)
            if secret and str(value):
                secrets.append(str(value))
    return headers, secrets


class SgtmCustomClient:
    """sGTM through a custom client: the OMS payload as is, plus event_name/storefront_id.

    ``event_name`` is the per-destination mapped name (by default the omnirelay name, e.g.
    ``purchase_completed``, as in the spec's example). ``order_id`` and ``event_time`` are
    filled from the event only when the payload lacks them (direct DB writes may), so the
    container always has the dedup key and the time.
    """

    code: ClassVar[str] = "sgtm_custom"
    max_batch_size: ClassVar[int] = 1
    default_event_names: ClassVar[Mapping[str, str]] = {
        "consult_started": "consult_started",
        "rx_issued": "rx_issued",
        "purchase_completed": "purchase_completed",
    }

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        base = sgtm_base_url(target)
        if base is None:
            return reject_all(events, "missing sGTM custom client settings: sgtm_url")
        try:
            extra_headers, secrets = custom_headers(target)
        except ValueError as exc:
            return reject_all(events, f"invalid sGTM custom client settings: {exc}")
        path = _text(target.settings, "custom_endpoint_path") or DEFAULT_CUSTOM_PATH
        url = f"{base}/{path.lstrip('/')}"
        prepared = Prepared()
        for event in events:
            body: dict[str, Any] = dict(event.payload)
            body.setdefault("order_id", event.event_id)
            body.setdefault("event_time", event.event_time.isoformat().replace("+00:00", "Z"))
            body["event_name"] = event.destination_event_name or event.event_type
            body["storefront_id"] = body.get("storefront_id") or event.storefront_code
            prepared.requests.append(
                PreparedRequest(
                    method="POST",
                    url=url,
                    delivery_ids=[event.delivery_id],
                    json_body=body,
                    headers={"Content-Type": "application/json", **extra_headers},
                    secrets=list(secrets),
                )
            )
        return prepared

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        return classify_2xx_delivered(request, result)

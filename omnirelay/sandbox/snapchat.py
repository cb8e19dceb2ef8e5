"""Fake Snapchat Conversions API v3 (see omnirelay/destinations/snapchat.py for the doc facts).

Mirrors ``POST /v3/{asset_id}/events`` and ``POST /v3/{asset_id}/events/validate`` under
``/snapchat``. The events endpoint answers Snap's ``EventResponse``: ``{"status": "VALID",
"reason": ...}`` on success, HTTP 400 ``{"status": "INVALID", "reason", "event": index,
"errors": {"codes", "error_msgs"}}`` at the first invalid event (the request is refused). The
validate endpoint answers ``{"status", "test_event": true, "reason", "event_logs": [...]}`` with
one log per event, HTTP 400 when any event is INVALID (Snap's VerifySetUp table).
The error code strings are the sandbox's own: Snap does not publish its code list.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/snapchat")

PLATFORM = "snapchat"
MAX_EVENTS = 2000
MAX_AGE_SECONDS = 37 * 24 * 3600
FUTURE_SKEW_SECONDS = 3600  # tolerance for clocks ahead of ours
ACTION_SOURCES = frozenset({"WEB", "MOBILE_APP", "OFFLINE"})
HASHED_FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "external_id")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def invalid_response(message: str) -> Response:
    return JSONResponse({"status": "INVALID", "reason": message}, status_code=400)


@router.post("/v3/{asset_id}/events")
async def send_events(asset_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive(PLATFORM, request, invalid_response)
    if fault is not None:
        return fault
    refused = _check_request(request, record.body)
    if refused is not None:
        return finish(record, refused)
    events: list[Any] = record.body["data"]
    for index, event in enumerate(events):
        errors = _event_errors(event)
        if errors:
            body = {
                "status": "INVALID",
                "reason": errors[0][1],
                "event": index,
                "errors": {"codes": [c for c, _ in errors], "error_msgs": [m for _, m in errors]},
            }
            return finish(record, JSONResponse(body, status_code=400))
    ok = {"status": "VALID", "reason": f"{len(events)} event(s) processed for {asset_id}"}
    return finish(record, JSONResponse(ok))


@router.post("/v3/{asset_id}/events/validate")
async def validate_events(asset_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive(PLATFORM, request, invalid_response)
    if fault is not None:
        return fault
    refused = _check_request(request, record.body)
    if refused is not None:
        return finish(record, refused)
    logs: list[dict[str, Any]] = []
    for index, event in enumerate(record.body["data"]):
        errors = _event_errors(event)
        log: dict[str, Any] = {"event": index, "status": "INVALID" if errors else "VALID"}
        if errors:
            log["errors"] = {"codes": [c for c, _ in errors], "error_msgs": [m for _, m in errors]}
        log["warnings"] = _warnings(event)
        logs.append(log)
    invalid = sum(1 for log in logs if log["status"] == "INVALID")
    body = {
        "status": "INVALID" if invalid else "VALID",
        "test_event": True,
        "reason": f"{invalid} invalid event(s)" if invalid else f"test events valid for {asset_id}",
        "event_logs": logs,
    }
    return finish(record, JSONResponse(body, status_code=400 if invalid else 200))


def _check_request(request: Request, body: Any) -> Response | None:
    """Request-level checks: the token, then the ``data`` array and its size."""
    token = request.query_params.get("access_token", "").strip()
    if not token or token.lower().startswith("invalid"):
        return JSONResponse(
            {"status": "INVALID", "reason": "Invalid or missing access_token"}, status_code=401
        )
    if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
        return invalid_response("Request body must be a JSON object with a non-empty data array")
    if len(body["data"]) > MAX_EVENTS:
        return invalid_response(f"Too many events: at most {MAX_EVENTS} per request")
    return None


def _event_errors(event: Any) -> list[tuple[str, str]]:
    """(code, message) for each reason Snap answers INVALID (VerifySetUp table)."""
    if not isinstance(event, dict):
        return [("INVALID_EVENT", "Event must be a JSON object")]
    errors: list[tuple[str, str]] = []
    for field in ("event_name", "event_time", "action_source"):
        if event.get(field) in (None, ""):
            errors.append(("MISSING_REQUIRED_FIELD", f"Missing required field: {field}"))
    action_source = str(event.get("action_source") or "").upper()
    if action_source and action_source not in ACTION_SOURCES:
        errors.append(("INVALID_ACTION_SOURCE", f"Invalid action_source: {action_source}"))
    if action_source == "WEB" and not event.get("event_source_url"):
        errors.append(("MISSING_REQUIRED_FIELD", "Missing required field: event_source_url"))
    event_time = event.get("event_time")
    if event_time not in (None, ""):
        seconds = _seconds(event_time)
        now = time.time()
        if seconds is None or not now - MAX_AGE_SECONDS <= seconds <= now + FUTURE_SKEW_SECONDS:
            errors.append(("INVALID_TIMESTAMP", "Timestamp invalid or out of range"))
    custom = _object(event.get("custom_data"))
    if str(event.get("event_name") or "").upper() == "PURCHASE" and (
        custom.get("value") in (None, "") or not custom.get("currency")
    ):
        errors.append(("MISSING_PRICE_OR_CURRENCY", "Missing price and/or currency in Purchase"))
    user = _object(event.get("user_data"))
    for field in HASHED_FIELDS:
        values = user.get(field)
        values = values if isinstance(values, list) else [] if values is None else [values]
        if any(not _SHA256.match(str(v)) for v in values):
            errors.append(("UNHASHED_PII", f"Unhashed PII in user_data.{field}"))
    has_ip_and_agent = user.get("client_ip_address") and user.get("client_user_agent")
    if not (user.get("em") or user.get("ph") or user.get("mobile_ad_id") or has_ip_and_agent):
        errors.append(("INSUFFICIENT_PII", "Insufficient PII to match the event"))
    return errors


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _warnings(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return []
    warnings = []
    if not event.get("event_id"):
        warnings.append("event_id missing: the event cannot be deduplicated")
    return warnings


def _seconds(value: Any) -> float | None:
    """Unix seconds from an int/str; milliseconds are tolerated (Snap's docs show seconds)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number / 1000 if number > 1e11 else number

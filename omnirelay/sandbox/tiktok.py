"""Fake TikTok Events API 2.0: ``POST /tiktok/open_api/v1.3/event/track/``.

Like the real API it answers HTTP 200 every time and reports problems in the body:
``{"code": 0, "message": "OK", "request_id": ..., "data": {}}`` on success, a non-zero
``code`` otherwise (40001 for a missing token, 40002 for an invalid parameter). TikTok
rejects the whole batch when one item is invalid; the message names the item
(``data[3].event_time: ...``) so a client can tell which event was at fault.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/tiktok")

MAX_EVENTS_PER_REQUEST = 1000  # documented limit of Events API 2.0 ``data``
EVENT_SOURCES = frozenset({"web", "app", "offline", "crm"})
PERMISSION_ERROR = 40001
PARAMETER_ERROR = 40002
RATE_LIMIT = 40100  # QPS or QPM limit reached


def _request_id() -> str:
    """Shaped like TikTok's: a UTC timestamp followed by upper-case hex."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:20].upper()


def tiktok_answer(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "request_id": _request_id(), "data": {}},
        status_code=200,
    )


def invalid_response(message: str) -> Response:
    return tiktok_answer(PARAMETER_ERROR, message)


def _body_error(body: Any) -> str | None:
    """The first problem TikTok would report for this body, or None when it is valid."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    event_source = body.get("event_source")
    if not event_source:
        return "event_source: Missing data for required field."
    if event_source not in EVENT_SOURCES:
        return f"event_source: Must be one of: {', '.join(sorted(EVENT_SOURCES))}."
    event_source_id = body.get("event_source_id")
    if not isinstance(event_source_id, str) or not event_source_id.strip():
        return "event_source_id: Missing data for required field."
    test_code = body.get("test_event_code")
    if test_code is not None and not isinstance(test_code, str):
        return "test_event_code: Not a valid string."
    data = body.get("data")
    if not isinstance(data, list) or not data:
        return "data: Missing data for required field."
    if len(data) > MAX_EVENTS_PER_REQUEST:
        return f"data: Length must be between 1 and {MAX_EVENTS_PER_REQUEST}."
    for index, item in enumerate(data):
        error = _item_error(item)
        if error is not None:
            return f"data[{index}].{error}"
    return None


def _item_error(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "_schema: Invalid input type."
    event = item.get("event")
    if not isinstance(event, str) or not event.strip():
        return "event: Missing data for required field."
    event_time = item.get("event_time")
    if event_time is None:
        return "event_time: Missing data for required field."
    if isinstance(event_time, bool) or not isinstance(event_time, int) or event_time <= 0:
        return "event_time: Not a valid integer."
    event_id = item.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        return "event_id: Not a valid string."
    for section in ("user", "properties", "page"):
        if section in item and not isinstance(item[section], dict):
            return f"{section}: Invalid input type."
    return None


@router.post("/open_api/v1.3/event/track/")
async def track_events(request: Request) -> Response:
    record, fault = await SANDBOX.receive("tiktok", request, invalid_response)
    if fault is not None:
        return fault
    if not request.headers.get("access-token", "").strip():
        return finish(record, tiktok_answer(PERMISSION_ERROR, "Access token is empty."))
    error = _body_error(record.body)
    if error is not None:
        return finish(record, tiktok_answer(PARAMETER_ERROR, error))
    return finish(record, tiktok_answer(0, "OK"))

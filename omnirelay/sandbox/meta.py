"""Meta Conversions API fake: ``POST /meta/{version}/{pixel_id}/events``.

Answers like the Graph API: HTTP 200 ``{"events_received": N, "messages": [], "fbtrace_id"}``
when the whole batch is valid, otherwise HTTP 400 with Graph's error envelope and nothing
accepted (Meta rejects the entire batch for one invalid event). The access token is read from
the ``access_token`` query/body parameter (as documented) or a Bearer header.

Subcodes: 2804003 ("Event Timestamp Too Old") and 2804050 (insufficient customer information)
are the ones seen in real Meta responses; the other 2804xxx values below are this fake's own
labels for checks Meta documents but whose exact subcode we could not confirm. Unlike Meta,
the fake names the offending event as ``data[i]`` in ``error_user_msg`` so clients can test
per-event handling.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/meta")

MAX_EVENTS = 1000
WINDOW_SECONDS = 7 * 24 * 3600
FUTURE_TOLERANCE_SECONDS = 60
ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated"}
    | {"business_messaging", "other"}
)
HASHED_KEYS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge")
TOO_BROAD = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
SUBCODE_TOO_OLD = 2804003  # real
SUBCODE_INSUFFICIENT_CUSTOMER_INFO = 2804050  # real
SUBCODE_MISSING_PARAMETER = 2804001  # fake's label
SUBCODE_IN_FUTURE = 2804004  # fake's label
SUBCODE_NOT_HASHED = 2804022  # fake's label
SUBCODE_WEBSITE_FIELDS = 2804019  # fake's label
SUBCODE_PURCHASE_VALUE = 2804008  # fake's label
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_VERSION_RE = re.compile(r"^v\d+\.\d+$")


def graph_error(
    message: str,
    *,
    code: int = 100,
    subcode: int | None = None,
    title: str | None = None,
    user_msg: str | None = None,
    error_type: str = "OAuthException",
    status: int = 400,
) -> JSONResponse:
    """Graph API's error envelope."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = False
    if title is not None:
        error["error_user_title"] = title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = _trace_id()
    return JSONResponse({"error": error}, status_code=status)


def _invalid_response(message: str) -> Response:
    return graph_error(
        "Invalid parameter",
        subcode=SUBCODE_MISSING_PARAMETER,
        title="Invalid event",
        user_msg=message,
    )


def _trace_id() -> str:
    return uuid.uuid4().hex[:22]


@router.post("/{version}/{pixel_id}/events")
async def post_events(version: str, pixel_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("meta", request, _invalid_response)
    if fault is not None:
        return fault
    params = _parameters(record.body)
    token = record.query.get("access_token") or params.get("access_token")
    bearer = record.headers.get("authorization", "")
    if not token and bearer.lower().startswith("bearer "):
        token = bearer[7:].strip()
    return finish(record, _answer(version, pixel_id, token, params))


def _parameters(body: Any) -> dict[str, Any]:
    """The request parameters, from a JSON body or a form-encoded one (``data`` as JSON)."""
    if isinstance(body, dict):
        return body
    if not isinstance(body, str):
        return {}
    params: dict[str, Any] = {key: values[0] for key, values in parse_qs(body).items()}
    if isinstance(params.get("data"), str):
        # Undecodable data stays a string and is rejected below as "must be an array".
        with contextlib.suppress(orjson.JSONDecodeError):
            params["data"] = orjson.loads(params["data"])
    return params


def _answer(version: str, pixel_id: str, token: Any, params: Mapping[str, Any]) -> Response:
    if not _VERSION_RE.match(version):
        return graph_error(f"Unknown path components: /{version}/{pixel_id}/events", code=2500)
    if not token:
        return graph_error("An access token is required to request this resource.", code=104)
    if not pixel_id.isdigit():
        return graph_error(
            f"Unsupported post request. Object with ID '{pixel_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            code=100,
            subcode=33,
            error_type="GraphMethodException",
        )
    data = params.get("data")
    if data is None:
        return graph_error("(#100) The parameter data is required")
    if not isinstance(data, list) or not data:
        return graph_error("(#100) param data must be a non-empty array")
    if len(data) > MAX_EVENTS:
        return graph_error(f"(#100) param data must have at most {MAX_EVENTS} elements")
    test_code = params.get("test_event_code")
    if test_code is not None and not isinstance(test_code, str):
        return graph_error("(#100) param test_event_code must be a string")
    now = int(datetime.now(UTC).timestamp())
    for index, event in enumerate(data):
        problem = _event_problem(event, now)
        if problem is not None:
            subcode, title, detail = problem
            return graph_error(
                "Invalid parameter",
                subcode=subcode,
                title=title,
                user_msg=f"data[{index}]: {detail}",
            )
    return JSONResponse({"events_received": len(data), "messages": [], "fbtrace_id": _trace_id()})


def _event_problem(event: Any, now: int) -> tuple[int, str, str] | None:
    """Why Meta would reject this server event (subcode, title, message), if it would."""
    missing = SUBCODE_MISSING_PARAMETER
    if not isinstance(event, dict):
        return missing, "Invalid event", "each element of data must be an object"
    for name in ("event_name", "event_time", "action_source", "user_data"):
        if event.get(name) in (None, ""):
            return missing, "Missing required parameter", f"{name} is required"
    if not isinstance(event["event_name"], str):
        return missing, "Invalid event_name", "event_name must be a string"
    event_time = event["event_time"]
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return missing, "Invalid event_time", "event_time must be a Unix timestamp in seconds"
    if now - event_time > WINDOW_SECONDS:
        return (
            SUBCODE_TOO_OLD,
            "Event Timestamp Too Old",
            "The timestamp for this event is too far in the past. Events need to be sent from "
            "your server within 7 days of when they occurred.",
        )
    if event_time - now > FUTURE_TOLERANCE_SECONDS:
        return SUBCODE_IN_FUTURE, "Event Timestamp In Future", "event_time is in the future"
    action_source = event["action_source"]
    if action_source not in ACTION_SOURCES:
        return missing, "Invalid action_source", f"action_source {action_source!r} is invalid"
    user_data = event["user_data"]
    if not isinstance(user_data, dict):
        return missing, "Invalid user_data", "user_data must be an object"
    for key in HASHED_KEYS:
        values = user_data.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else (values,):
            if value is not None and not _SHA256_RE.match(
                value if value.__class__ is str else str(value)
            ):
                return (
                    SUBCODE_NOT_HASHED,
                    "Unhashed customer information",
                    f"{key} must be SHA-256",
                )
    present = {key for key, value in user_data.items() if value}
    if any(present <= combination for combination in TOO_BROAD):
        return (
            SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
            "Customer information parameters",
            "This event has insufficient customer information.",
        )
    if action_source == "website" and not (
        user_data.get("client_user_agent") and event.get("event_source_url")
    ):
        return (
            SUBCODE_WEBSITE_FIELDS,
            "Missing website parameters",
            "website events require client_user_agent and event_source_url",
        )
    custom_data = event.get("custom_data") or {}
    if event["event_name"] == "Purchase" and not (
        isinstance(custom_data, dict)
        and isinstance(custom_data.get("value"), int | float)
        and re.fullmatch(r"[A-Za-z]{3}", str(custom_data.get("currency", "")))
    ):
        return SUBCODE_PURCHASE_VALUE, "Invalid Purchase", "Purchase requires value and currency"
    return None

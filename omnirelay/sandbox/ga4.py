"""Sandbox fake of the GA4 Measurement Protocol (``/ga4/mp/collect``, ``/ga4/debug/mp/collect``).

Like Google's collector, ``/mp/collect`` answers ``204`` with an empty body whether the hit
is valid or not; the validation result is kept on the recorded request
(``record.validation_messages``, also in ``as_dict()``) so tests and operators can see
what Google would have dropped silently. ``/debug/mp/collect`` answers ``200
{"validationMessages": [{"fieldPath", "description", "validationCode"}]}`` like the
validation server (an empty list when the hit is valid).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.destinations.ga4 import (
    MAX_EVENTS_PER_REQUEST,
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_PER_EVENT,
    RESERVED_NAME_PREFIXES,
    event_name_problem,
)
from omnirelay.destinations.hashing import is_sha256_hex
from omnirelay.sandbox.core import SANDBOX, RecordedRequest, finish

router = APIRouter(prefix="/ga4")

_PARAM_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HASHED_USER_FIELDS = ("sha256_email_address", "sha256_phone_number")
_HASHED_ADDRESS_FIELDS = ("sha256_first_name", "sha256_last_name", "sha256_street")

ValidationMessage = dict[str, str]


def _message(field_path: str, description: str, code: str) -> ValidationMessage:
    return {"fieldPath": field_path, "description": description, "validationCode": code}


def _as_list(value: Any) -> list[Any]:
    # the protocol accepts a single value wherever user_data takes a list
    return value if isinstance(value, list) else [value]


def _validate_user_data(user_data: Any) -> list[ValidationMessage]:
    if not isinstance(user_data, Mapping):
        return [_message("user_data", "user_data must be an object.", "VALUE_INVALID")]
    messages: list[ValidationMessage] = []
    for field in _HASHED_USER_FIELDS:
        for value in _as_list(user_data.get(field, [])):
            if not is_sha256_hex(str(value)):
                messages.append(
                    _message(
                        f"user_data.{field}",
                        f"Value [{value}] is not a hex encoded SHA256 hash.",
                        "VALUE_INVALID",
                    )
                )
    for address in _as_list(user_data.get("address", [])):
        for field in _HASHED_ADDRESS_FIELDS:
            value = address.get(field) if isinstance(address, Mapping) else None
            if value is not None and not is_sha256_hex(str(value)):
                messages.append(
                    _message(
                        f"user_data.address.{field}",
                        f"Value [{value}] is not a hex encoded SHA256 hash.",
                        "VALUE_INVALID",
                    )
                )
    return messages


def _validate_params(index: int, params: Any) -> list[ValidationMessage]:
    where = f"Event at index: [{index}]"
    if not isinstance(params, Mapping):
        description = f"{where} has params that are not an object."
        return [_message("events.params", description, "VALUE_INVALID")]
    messages: list[ValidationMessage] = []
    if len(params) > MAX_PARAMS_PER_EVENT:
        messages.append(
            _message(
                "events.params",
                f"{where} has [{len(params)}] params; at most {MAX_PARAMS_PER_EVENT} allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for key, value in params.items():
        if str(key).startswith(RESERVED_NAME_PREFIXES):
            messages.append(
                _message("events.params", f"{where} has reserved param [{key}].", "NAME_RESERVED")
            )
        elif len(str(key)) > MAX_NAME_LENGTH or not _PARAM_NAME_RE.match(str(key)):
            messages.append(
                _message("events.params", f"{where} has invalid param [{key}].", "NAME_INVALID")
            )
        if isinstance(value, str) and len(value) > MAX_PARAM_VALUE_LENGTH:
            messages.append(
                _message(
                    f"events.params.{key}",
                    f"{where} has param [{key}] longer than {MAX_PARAM_VALUE_LENGTH} characters.",
                    "VALUE_OUT_OF_BOUNDS",
                )
            )
    return messages


def validate_mp_request(query: Mapping[str, str], body: Any) -> list[ValidationMessage]:
    """The checks the validation server makes on a web-stream hit, in its message shape."""
    messages: list[ValidationMessage] = []
    for key in ("measurement_id", "api_secret"):
        if not query.get(key):
            messages.append(_message(key, f"Query parameter {key} is required.", "VALUE_REQUIRED"))
    if not isinstance(body, Mapping):
        messages.append(_message("", "Payload must be a JSON object.", "VALUE_INVALID"))
        return messages
    if not str(body.get("client_id") or "").strip():
        messages.append(_message("client_id", "client_id is required.", "VALUE_REQUIRED"))
    timestamp = body.get("timestamp_micros")
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        messages.append(
            _message("timestamp_micros", "timestamp_micros must be an integer.", "VALUE_INVALID")
        )
    if "user_data" in body:
        messages.extend(_validate_user_data(body["user_data"]))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        messages.append(_message("events", "At least one event is required.", "VALUE_REQUIRED"))
        return messages
    if len(events) > MAX_EVENTS_PER_REQUEST:
        messages.append(
            _message(
                "events",
                f"Request has [{len(events)}] events; at most {MAX_EVENTS_PER_REQUEST} allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            messages.append(
                _message("events", f"Event at index: [{index}] is not an object.", "VALUE_INVALID")
            )
            continue
        name = str(event.get("name") or "")
        problem = event_name_problem(name)
        if problem is not None:
            code, reason = problem
            messages.append(
                _message(
                    "events",
                    f"Event at index: [{index}] has invalid name [{name}]. {reason.capitalize()}.",
                    code,
                )
            )
        messages.extend(_validate_params(index, event.get("params", {})))
    return messages


def record_validation(record: RecordedRequest) -> list[ValidationMessage]:
    """Validate the recorded hit and keep the verdict on the record (``validation_messages``)."""
    messages = validate_mp_request(record.query, record.body)
    vars(record)["validation_messages"] = messages
    return messages


def collect_answer(record: RecordedRequest) -> Response:
    """``/mp/collect``: validate for the record, answer 204 regardless, like Google."""
    record_validation(record)
    return finish(record, Response(status_code=204))


def _silent_invalid(_message_text: str) -> Response:
    # the real collector never reports an invalid payload: an empty 2xx
    return Response(status_code=204)


def _debug_invalid(message_text: str) -> Response:
    return JSONResponse(
        {"validationMessages": [_message("", message_text, "VALUE_INVALID")]}, status_code=200
    )


@router.post("/mp/collect")
async def mp_collect(request: Request) -> Response:
    record, fault = await SANDBOX.receive("ga4", request, _silent_invalid)
    if fault is not None:
        return fault
    return collect_answer(record)


@router.post("/debug/mp/collect")
async def debug_mp_collect(request: Request) -> Response:
    record, fault = await SANDBOX.receive("ga4", request, _debug_invalid)
    if fault is not None:
        return fault
    messages = record_validation(record)
    return finish(record, JSONResponse({"validationMessages": messages}, status_code=200))

"""Types for values that come from outside, so that each is refused where it arrives (a 422
naming the field and the reason) rather than failing where it is used: in a database driver
(a 500), or in a delivery that can never be sent.

- ``DbInt``: an integer the databases' signed 64-bit columns, and their drivers, can take.
  Every id, offset and limit of the API is one (``Offset`` and ``Limit`` as query parameters).
- ``UtcDatetime``: a datetime converted to UTC as it is read (without an offset it is taken
  as UTC). One whose offset carries it outside the years 1 to 9999 cannot be converted and
  is refused.
- ``StoredJson``: a JSON value omnirelay can store and send again: nested at most
  ``MAX_JSON_DEPTH`` levels, integers within 64 bits (signed), numbers finite.
- ``HeaderMap``: HTTP header names (RFC 9110 tokens) to values of visible ASCII, space and tab
  (never CR, LF, NUL or another control character), no name twice.
- ``TextColumn``: a string that goes into a text column or a query as it is. PostgreSQL text
  cannot hold U+0000 (its driver raises on one), so it is refused; strings kept inside JSON
  columns or encrypted are escaped and need no such care.
  ``reject_nul_in_url`` does the same for every path and query parameter of the app.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import annotated_types
from fastapi import Query, Request
from pydantic import AfterValidator, StrictInt
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from omnirelay.errors import InvalidInput

DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1
# Deep enough for any real order or configuration, and far from the 255 levels orjson can
# write: a stored value is sent again wrapped in a platform's request body.
MAX_JSON_DEPTH = 64

_DB_INT_RANGE = annotated_types.Interval(ge=DB_INT_MIN, le=DB_INT_MAX)
DbInt = Annotated[int, _DB_INT_RANGE]
StrictDbInt = Annotated[StrictInt, _DB_INT_RANGE]  # a JSON integer, not "1" or true
Offset = Annotated[DbInt, Query(ge=0)]
Limit = Annotated[DbInt, Query(ge=1, le=1000)]


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (naive is taken as UTC); ValueError when it cannot be converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "cannot be converted to UTC: its offset takes it outside the years 1 to 9999"
        ) from None


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]

INTEGER_OUT_OF_RANGE = "integer outside the signed 64-bit range; send it as a string"
NOT_FINITE = "must be a finite number"
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


def json_problem(value: Any, depth: int = 1) -> tuple[tuple[str | int, ...], str] | None:
    """Where and why ``value`` cannot be stored and sent again as JSON, or None: the path
    to the number, or to the container nested too deep.

    ``depth`` is the nesting level of ``value`` itself (1 for a value at the top).
    Iterative: the value may be nested far deeper than Python's recursion limit.
    """
    pending: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (), depth)]
    while pending:
        current, path, level = pending.pop()
        kind = type(current)
        if kind is dict or kind is list:
            if level > MAX_JSON_DEPTH:
                return path, TOO_DEEP
            items: Iterable[tuple[str | int, Any]] = (
                current.items() if kind is dict else enumerate(current)
            )
            pending.extend((child, (*path, key), level + 1) for key, child in items)
        elif kind is int:
            if not DB_INT_MIN <= current <= DB_INT_MAX:
                return path, INTEGER_OUT_OF_RANGE
        elif kind is float and not math.isfinite(current):
            return path, NOT_FINITE
    return None


def _refuse(problems: list[tuple[tuple[str | int, ...], str, Any]]) -> ValidationError:
    """A ValidationError whose errors sit at ``loc`` below the field validated: pydantic
    prefixes them with the field's own location."""
    return ValidationError.from_exception_data(
        "input",
        [
            InitErrorDetails(
                type=PydanticCustomError("invalid_value", reason),
                loc=loc,
                input=given,
            )
            for loc, reason, given in problems
        ],
    )


def _check_stored_json(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        loc, reason = problem
        # a number is named where it is; a value nested too deep, as a whole
        raise _refuse([(() if reason == TOO_DEEP else loc, reason, value)])
    return value


StoredJson = Annotated[Any, AfterValidator(_check_stored_json)]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
# Framing is omnirelay's to set: a configured one would break the request it is sent with.
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def header_problems(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(header name, reason) for each header that cannot be sent as configured."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            problems.append(
                (name, "header name must be an RFC 9110 token (letters, digits, !#$%&'*+-.^_`|~)")
            )
        elif name.lower() in _RESERVED_HEADERS:
            problems.append((name, f"{name} is set by omnirelay for each request"))
        elif name.lower() in seen:
            problems.append((name, "header given twice (names are compared without case)"))
        elif not _FIELD_VALUE.fullmatch(value):
            problems.append(
                (name, "header value must be visible ASCII, space or tab (no CR, LF or NUL)")
            )
        seen.add(name.lower())
    return problems


def check_headers(headers: dict[str, str], *, under: tuple[str, ...] = ()) -> dict[str, str]:
    """``headers`` unchanged, or a ValidationError naming each bad header (below ``under``)."""
    problems = header_problems(headers)
    if problems:
        raise _refuse([((*under, name), reason, headers[name]) for name, reason in problems])
    return headers


HeaderMap = Annotated[dict[str, str], AfterValidator(check_headers)]

NUL_REASON = "must not contain NUL characters (U+0000): PostgreSQL text cannot hold them"


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_REASON)
    return value


TextColumn = Annotated[str, AfterValidator(no_nul)]


def reject_nul_in_url(request: Request) -> None:
    """An app-wide dependency: no path or query parameter holds U+0000."""
    problems = [
        {"field": name, "reason": NUL_REASON}
        for name, value in (*request.path_params.items(), *request.query_params.multi_items())
        if "\x00" in str(value)
    ]
    if problems:
        raise InvalidInput(problems)

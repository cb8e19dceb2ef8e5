"""Reading an OMS batch body as sent.

orjson reads integers up to 64 bits exactly and turns larger ones into floats without a
word (2**80 and 2**80 + 1 become the same order id); it refuses numbers that overflow a
double (``1e400``) and the ``NaN`` / ``Infinity`` that Python's json writes, failing the
whole batch for one item. A body that may hold such numbers (a run of 19 digits, or one
orjson refuses) is read again with each of them carried through orjson as a marked string
and put back exactly: an int, or a float that is not finite. The items are then judged on
their own (``ingest_service``): an integer order id is kept as its exact decimal string,
and any other such number rejects only its item, with the reason.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from omnirelay.input_types import DB_INT_MAX, DB_INT_MIN

# Digits to "0", everything else to " ": a run of 19 zeros in the translation is a run
# of 19 digits in the body, found by one C-speed search instead of a regular expression.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19  # -(2**63) - 1 has 19 digits, 2**64 has 20
# A string (skipped whole, so nothing inside one is touched), or a number, or a constant.
_TOKEN = re.compile(
    rb'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|-?Infinity',
    re.DOTALL,
)
_CONSTANTS = {b"NaN": math.nan, b"Infinity": math.inf, b"-Infinity": -math.inf}


@dataclass
class ReadBody:
    document: Any
    # numbers orjson cannot hold were read: the document may hold integers beyond 64 bits
    # and floats that are not finite
    wide_numbers: bool = False


def _beyond_orjson(token: bytes) -> bool:
    if token in _CONSTANTS:
        return True
    if b"." in token or b"e" in token or b"E" in token:
        return math.isinf(float(token))
    return not DB_INT_MIN <= int(token) <= DB_INT_MAX


def _wide_value(token: str) -> int | float:
    raw = token.encode()
    if raw in _CONSTANTS:
        return _CONSTANTS[raw]
    if "." in token or "e" in token or "E" in token:
        return float(token)
    return int(token)


def read_batch_json(body: bytes) -> ReadBody:
    """The body's JSON document; ``orjson.JSONDecodeError`` when it is not JSON."""
    if _LONG_DIGIT_RUN not in body.translate(_DIGITS_ONLY):
        try:
            return ReadBody(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            first_error = exc
    else:
        first_error = None
    marker = f"\x00{secrets.token_hex(8)}:"  # no string the client sent starts with it
    escaped_marker = marker.replace("\x00", "\\u0000").encode()
    marked = 0

    def mark(match: re.Match[bytes]) -> bytes:
        nonlocal marked
        token = match.group()
        if token[0] == 0x22 or not _beyond_orjson(token):  # a string, or an ordinary number
            return token
        marked += 1
        return b'"' + escaped_marker + token + b'"'

    try:
        document = orjson.loads(_TOKEN.sub(mark, body))
    except orjson.JSONDecodeError:
        if first_error is not None:
            raise first_error from None
        raise
    if not marked:
        return ReadBody(document)
    return ReadBody(_restore(document, marker), wide_numbers=True)


def _restore(document: Any, marker: str) -> Any:
    """``document`` with each marked string replaced by its number (iterative: it may be
    nested deeper than Python's recursion limit)."""

    def number(value: Any) -> Any:
        if type(value) is str and value.startswith(marker):
            return _wide_value(value[len(marker) :])
        return value

    if type(document) is not dict and type(document) is not list:
        return number(document)
    pending = [document]
    while pending:
        container = pending.pop()
        keys = container.keys() if type(container) is dict else range(len(container))
        for key in keys:
            value = container[key]
            if type(value) is dict or type(value) is list:
                pending.append(value)
            else:
                container[key] = number(value)
    return document

"""Reading batch bodies: orjson's speed, with every number as sent."""

from __future__ import annotations

import math

import orjson
import pytest

from omnirelay.relay.ingest_json import read_batch_json


@pytest.mark.parametrize(
    ("body", "expected", "wide"),
    [
        (b'{"data": [1, 2.5, "x"]}', {"data": [1, 2.5, "x"]}, False),
        # 19 or more digits take the careful path; within 64 bits nothing changes
        (b"[9223372036854775807, -9223372036854775808]", [2**63 - 1, -(2**63)], False),
        (b'["12345678901234567890123"]', ["12345678901234567890123"], False),
        (b'{"k12345678901234567890": 1}', {"k12345678901234567890": 1}, False),
        (b'["x\\"12345678901234567890123"]', ['x"12345678901234567890123'], False),
        (b"[1.2345678901234567890123]", [1.2345678901234567], False),
        # beyond: exact
        (b"[9223372036854775808]", [2**63], True),
        (b"[-9223372036854775809]", [-(2**63) - 1], True),
        (b'{"id": 1208925819614629174706177}', {"id": 2**80 + 1}, True),
        (b"1208925819614629174706177", 2**80 + 1, True),
        (b"[[[[12345678901234567890123]]]]", [[[[12345678901234567890123]]]], True),
        (
            b'{"a": "1e400", "b": 1e400, "c": -1.5E+400}',
            {"a": "1e400", "b": math.inf, "c": -math.inf},
            True,
        ),
        (b"[Infinity, -Infinity]", [math.inf, -math.inf], True),
        (b"1e400", math.inf, True),
    ],
)
def test_numbers_are_read_as_sent(body: bytes, expected: object, wide: bool) -> None:
    read = read_batch_json(body)
    assert read.document == expected
    assert read.wide_numbers is wide


def test_nan_is_read_as_a_number_for_its_item_to_be_judged() -> None:
    read = read_batch_json(b'{"data": [{"v": NaN}, {"v": "NaN"}]}')
    assert math.isnan(read.document["data"][0]["v"]) and read.document["data"][1]["v"] == "NaN"


def test_deep_documents_are_read_as_deep_as_orjson_reads() -> None:
    deep = b"[" * 1024 + b"12345678901234567890123" + b"]" * 1024
    value = read_batch_json(deep).document
    for _ in range(1024):
        value = value[0]
    assert value == 12345678901234567890123
    for too_deep in (b"[" * 1025 + b"]" * 1025, b"[" * 1025 + b"1e400" + b"]" * 1025):
        with pytest.raises(orjson.JSONDecodeError):
            read_batch_json(too_deep)


@pytest.mark.parametrize(
    "body", [b'{"data":[1,2', b"NaNx", b"[01]", b"[1e400", b"", b"[12345678901234567890123,]"]
)
def test_what_is_not_json_stays_an_error(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        read_batch_json(body)

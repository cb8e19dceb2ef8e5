"""Preparing requests in worker processes: the same requests as inline, and a dead process
costs no batch."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from omnirelay.destinations import get_destination
from omnirelay.destinations.base import DestinationTarget, OutboundEvent, PreparedRequest
from omnirelay.relay.preparing import Preparer
from tests.delivery.helpers import PLATFORM_CREDENTIALS, customer_event

TARGET = DestinationTarget(
    credentials=PLATFORM_CREDENTIALS["meta"], settings={"base_url": "http://sandbox/meta"}
)


def outbound(n: int, **extra: Any) -> OutboundEvent:
    payload = customer_event(n, **extra)
    return OutboundEvent(
        delivery_id=n,
        event_id=payload["order_id"],
        event_type="purchase_completed",
        destination_event_name="Purchase",
        event_time=datetime.now(UTC) - timedelta(minutes=5),
        storefront_code="bosley",
        payload=payload,
    )


@pytest.fixture
async def preparer() -> Any:
    pool = Preparer(processes=1)
    await pool.start()
    yield pool
    pool.close()


def test_outbound_event_crosses_processes_with_its_payload() -> None:
    event = outbound(1, items=[{"sku": "A", "quantity": 2}])
    assert pickle.loads(pickle.dumps(event)) == event
    stored_text = '{"order_id": "ORD1", "email": "a@b.co"}'  # as read from the database
    stored = OutboundEvent(3, "ORD1", "x", "x", event.event_time, "bosley", {}, stored_text)
    assert pickle.loads(pickle.dumps(stored)).payload == {"order_id": "ORD1", "email": "a@b.co"}
    odd = OutboundEvent(2, "E2", "x", "x", event.event_time, "bosley", {"when": event.event_time})
    assert pickle.loads(pickle.dumps(odd)) == odd  # not JSON: pickled as it is


def test_a_serialized_request_keeps_its_exact_bytes() -> None:
    request = PreparedRequest("POST", "http://x", [1], json_body={"data": [{"b": 1, "a": 2}]})
    raw = request.body_bytes()
    request.serialized()
    assert request.json_body is None and request.has_body
    assert request.body_bytes() == raw
    assert request.parsed_body() == {"data": [{"b": 1, "a": 2}]}


async def test_a_process_prepares_what_inline_prepares(preparer: Preparer) -> None:
    meta = get_destination("meta")
    assert meta is not None
    events = [outbound(n) for n in range(50)]
    events.append(outbound(50, phone="not a phone"))
    inline = meta.prepare(events, TARGET)
    remote = await preparer.prepare("meta", meta, events, TARGET)
    [expected], [got] = inline.requests, remote.requests
    assert got.json_body is None  # the body came back as bytes
    assert orjson.loads(got.body_bytes())["data"] == expected.json_body["data"]
    assert (got.url, got.delivery_ids, got.secrets) == (
        expected.url,
        expected.delivery_ids,
        expected.secrets,
    )
    assert got.warnings == expected.warnings and 50 in got.warnings
    assert remote.rejected == inline.rejected


async def test_a_killed_preparing_process_costs_no_batch(preparer: Preparer) -> None:
    meta = get_destination("meta")
    assert meta is not None
    assert preparer._pool is not None
    for process in preparer._pool._processes.values():
        os.kill(process.pid, signal.SIGKILL)
    prepared = await preparer.prepare("meta", meta, [outbound(1), outbound(2)], TARGET)
    assert prepared.requests[0].delivery_ids == [1, 2]
    assert preparer._pool is None  # a new pool starts with the next batch
    again = await preparer.prepare("meta", meta, [outbound(3)], TARGET)
    assert again.requests[0].delivery_ids == [3] and again.requests[0].json_body is None


def test_preparing_processes_leave_when_their_worker_is_killed() -> None:
    script = (
        "import asyncio, time\n"
        "from omnirelay.relay.preparing import Preparer\n"
        "async def main():\n"
        "    pool = Preparer(1)\n"
        "    await pool.start()\n"
        "    print(*pool._pool._processes, flush=True)\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        [preparing] = [int(pid) for pid in worker.stdout.readline().split()]
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(preparing):
        time.sleep(0.1)
    assert not _alive(preparing)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone, only not reaped yet
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"

"""The file provider under concurrency: every message once, every line whole JSON, with
two processes appending at once (the transport alone, and two real worker processes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from omnirelay.delivery.file_transport import JsonLinesFileTransport, file_url
from omnirelay.destinations.base import PreparedRequest
from omnirelay.models import Delivery
from tests.conftest import server_backends
from tests.delivery.test_processes import start_worker, wait_for
from tests.messaging.sending.helpers import (
    CONFIG_TEMPLATES,
    enqueue,
    file_lines,
    new_send,
    send_rows,
    stored_event,
)

PYTHON = sys.executable
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from omnirelay.delivery.file_transport import JsonLinesFileTransport
    from omnirelay.destinations.base import PreparedRequest

    async def main(url, keys):
        transport = JsonLinesFileTransport()
        async def one(key):
            body = ('{"idempotency_key":"%s","body":"%s"}' % (key, "x" * 300)).encode()
            request = PreparedRequest("APPEND", url, [1], headers={"Idempotency-Key": key})
            result = await transport.send(transport.build(request, body))
            assert result.error is None, result.error
        await asyncio.gather(*(one(key) for key in keys))

    asyncio.run(main(sys.argv[1], sys.argv[2:]))
    """
)


def _request(path: Path, key: str | None) -> tuple[PreparedRequest, bytes]:
    headers = {"Idempotency-Key": key} if key else {}
    body = json.dumps({"idempotency_key": key, "body": "hello"}).encode()
    return PreparedRequest("APPEND", file_url(path), [1], headers=headers), body


def test_two_processes_append_each_message_once_as_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "messages.txt"
    shared = [f"shared-{n}" for n in range(150)]  # both processes are given these
    writers = [
        subprocess.Popen(
            [PYTHON, "-c", WRITER, file_url(path), *shared, *(f"own-{w}-{n}" for n in range(100))]
        )
        for w in range(2)
    ]
    assert [writer.wait(120) for writer in writers] == [0, 0]
    lines = path.read_text().splitlines()
    keys = [json.loads(line)["idempotency_key"] for line in lines]  # every line whole JSON
    assert len(keys) == len(set(keys)) == 150 + 2 * 100


async def test_a_line_cut_off_by_a_crash_does_not_swallow_the_next(tmp_path: Path) -> None:
    path = tmp_path / "messages.txt"
    path.write_bytes(b'{"idempotency_key": "a"}\n{"idempotency_key": "b", "bo')
    transport = JsonLinesFileTransport()
    for key in ("a", "c"):
        request, body = _request(path, key)
        result = await transport.send(transport.build(request, body))
        assert result.error is None
    lines = path.read_text().splitlines()
    assert lines[0] == '{"idempotency_key": "a"}'  # "a" was there: not written again
    assert lines[1] == '{"idempotency_key": "b", "bo'
    assert json.loads(lines[2])["idempotency_key"] == "c"


async def test_a_failing_file_is_an_answer_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    transport = JsonLinesFileTransport()
    request, body = _request(blocker / "messages.txt", "k")
    result = await transport.send(transport.build(request, body))
    assert result.status_code is None and (result.error or "").startswith("file: ")


def test_a_request_that_is_not_one_line_is_refused_before_writing(tmp_path: Path) -> None:
    transport = JsonLinesFileTransport()
    request, _ = _request(tmp_path / "messages.txt", "k")
    with pytest.raises(ValueError):
        transport.build(request, b'{"a":\n1}')
    with pytest.raises(ValueError):
        transport.build(PreparedRequest("APPEND", "https://example.com/x", [1]), b"{}")


@server_backends
async def test_two_worker_processes_write_every_message_once(
    app: Any, sessionmaker: Any, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "messages.txt"
    storefront, event = await stored_event(sessionmaker)
    sends = [
        new_send(storefront, event, template="PAYMENT_RETRY_SMS", channel="sms") for _ in range(120)
    ]
    await enqueue(sessionmaker, *sends)
    env = {
        "MESSAGING_FILE_PATH": str(path),
        "RULES_TEMPLATES_DIR": str(CONFIG_TEMPLATES),
        "WORKER_BATCH_SIZE": "20",  # small claims, so both workers take a share
    }
    workers = [start_worker(db_url, **env) for _ in range(2)]

    async def all_delivered() -> bool:
        async with sessionmaker() as session:
            count = (
                await session.execute(
                    select(func.count()).where(
                        Delivery.kind == "message", Delivery.status == "delivered"
                    )
                )
            ).scalar_one()
        return bool(count == len(sends))

    try:
        await wait_for(all_delivered, timeout=120)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            await asyncio.to_thread(worker.wait, 30)
    lines = file_lines(path)
    rows = await send_rows(sessionmaker)
    assert sorted(line["idempotency_key"] for line in lines) == sorted(
        row.idempotency_key for row in rows
    )
    assert {row.status for row in rows} == {"sent"}

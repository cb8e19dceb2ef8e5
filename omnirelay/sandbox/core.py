"""Shared machinery of the sandbox: request recording and fault injection.

Each platform fake is a FastAPI router (``omnirelay/sandbox/<platform>.py``) that mirrors the
platform's real paths under its own prefix, so a credential's ``base_url`` override of
``http://127.0.0.1:8090/<platform>`` sends real omnirelay traffic to it unchanged.
A fake calls ``SANDBOX.receive(...)`` first: the request is recorded, and if a fault is
armed for that platform the fault's response comes back instead of the platform's answer.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

FaultKind = Literal["none", "429", "500", "502", "503", "timeout", "invalid", "throttle"]


class FaultConfig(BaseModel):
    """How a platform fake misbehaves. ``rate`` is the share of requests that fail."""

    kind: FaultKind = "none"
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    retry_after: int | None = Field(default=None, ge=0, description="seconds, for 429/503")
    delay_ms: int = Field(default=0, ge=0, le=120_000, description="added to every answer")
    timeout_s: float = Field(default=30.0, ge=0.0, description="how long a 'timeout' hangs")


@dataclass
class RecordedRequest:
    platform: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received_at: str
    response_status: int = 0
    response_body: Any = None
    # every header line as received (lower-cased names), repeats included
    header_lines: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class SandboxState:
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: dict[str, FaultConfig] = field(default_factory=dict)
    max_recorded: int = 100_000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    def recorded(self, platform: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if platform is None or r.platform == platform]

    async def receive(
        self,
        platform: str,
        request: Request,
        invalid_response: Callable[[str], Response],
        throttle_response: Callable[[], Response] | None = None,
    ) -> tuple[RecordedRequest, Response | None]:
        """Record the request; return a fault response if one is armed and drawn. A
        ``throttle`` fault answers as the platform signals a rate limit in its body (Meta's
        400 with code 80004, TikTok's 200 with code 40100), a plain 429 where it has none."""
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            platform=platform,
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=datetime.now(UTC).isoformat(),
            header_lines=[(k.lower(), v) for k, v in request.headers.items()],
        )
        with self._lock:
            self.requests.append(record)
            if len(self.requests) > self.max_recorded:
                del self.requests[: len(self.requests) - self.max_recorded]
        fault = self.faults.get(platform) or self.faults.get("*")
        if fault is None:
            return record, None
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.kind == "none" or self.rng.random() >= fault.rate:
            return record, None
        if fault.kind == "timeout":
            await asyncio.sleep(fault.timeout_s)
            return record, finish(record, JSONResponse({"error": "timeout"}, status_code=504))
        if fault.kind == "invalid":
            return record, finish(record, invalid_response("sandbox fault: invalid payload"))
        if fault.kind == "throttle" and throttle_response is not None:
            return record, finish(record, throttle_response())
        status = 429 if fault.kind == "throttle" else int(fault.kind)
        headers = {}
        if fault.retry_after is not None and status in (429, 503):
            headers["Retry-After"] = str(fault.retry_after)
        response = JSONResponse(
            {"error": {"message": f"sandbox fault {status}", "code": status}},
            status_code=status,
            headers=headers,
        )
        return record, finish(record, response)


def finish(record: RecordedRequest, response: Response) -> Response:
    """Remember what the fake answered, then hand the response back."""
    record.response_status = response.status_code
    try:
        record.response_body = orjson.loads(bytes(response.body))
    except orjson.JSONDecodeError:
        record.response_body = bytes(response.body).decode("utf-8", "replace")
    return response


SANDBOX = SandboxState()

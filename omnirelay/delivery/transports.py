"""How a prepared request leaves the process. HTTP is one transport; a kind that sends by
another means (a file drop, SMTP) brings a transport with the same two steps."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from omnirelay.destinations.base import HttpResult, PreparedRequest
from omnirelay.logs import redact_library_logs
from omnirelay.netguard import DestinationNotAllowed


class Transport(Protocol):
    def build(self, request: PreparedRequest, body: bytes | None) -> Any:
        """The request as it will be sent; raising here means nothing was sent."""

    async def send(self, built: Any) -> HttpResult:
        """Send and answer; every failure is an answer (an error), never an exception."""


def _merged_headers(defaults: dict[str, str], headers: dict[str, str]) -> dict[str, str]:
    """``headers`` over ``defaults``, names compared without case, so each goes out once
    (``{"content-type": ..., "Content-Type": ...}`` would be sent as two header lines)."""
    merged: dict[str, str] = {}
    for source in (defaults, headers):
        for name, value in source.items():
            for same in [key for key in merged if key.lower() == name.lower()]:
                del merged[same]
            merged[name] = value
    return merged


class HttpTransport:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        # httpx logs every request line, query string (and so several platforms' tokens)
        # included
        redact_library_logs()

    def build(self, request: PreparedRequest, body: bytes | None) -> httpx.Request:
        # a header value that is not ASCII fails here, before anything is on the wire
        return self.client.build_request(
            request.method,
            request.url,
            content=body,
            headers=_merged_headers({"Content-Type": "application/json"}, request.headers),
        )

    async def send(self, built: httpx.Request) -> HttpResult:
        try:
            response = await self.client.send(built)
            text = response.text
        except DestinationNotAllowed as exc:  # nothing was sent; sending again cannot help
            return HttpResult(None, error=str(exc), permanent=True)
        except httpx.TimeoutException as exc:
            return HttpResult(None, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return HttpResult(None, error=f"network: {type(exc).__name__}: {exc}")
        except Exception as exc:  # anything else is this request's outcome, not the pass's
            return HttpResult(None, error=f"send failed: {type(exc).__name__}: {exc}")
        return HttpResult(response.status_code, dict(response.headers), text)

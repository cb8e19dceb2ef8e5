"""How a prepared request leaves the process. HTTP is one transport; a kind that sends by
another means (a file drop, SMTP: ``file_transport``, ``smtp_transport``) brings a
transport with the same two steps, and the engine claims, records and retries its
requests as it does HTTP ones.

A request names its target as a URL whatever the transport (``https://...``,
``file:///var/lib/omnirelay/messages.txt``, ``smtp://mail.example.com:587``): that is
what the audit keeps. The answer is an ``HttpResult`` whose ``status_code`` is the
transport's own status (an HTTP status, an SMTP reply code; none for a file, where no
error means written), and the kind's ``classify`` reads it. A kind whose requests leave by
several means routes them by scheme (``TransportsByScheme``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

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


class TransportsByScheme:
    """Each request through the transport of its URL's scheme (``file``, ``smtp``,
    ``https`` ...); a scheme without one is refused before anything is sent."""

    def __init__(self, transports: Mapping[str, Transport]) -> None:
        self.transports = dict(transports)

    def build(self, request: PreparedRequest, body: bytes | None) -> tuple[Transport, Any]:
        scheme = urlsplit(request.url).scheme.lower()
        transport = self.transports.get(scheme)
        if transport is None:
            known = ", ".join(sorted(self.transports))
            raise ValueError(f"no transport for {scheme or 'a URL without a scheme'!r} ({known})")
        return transport, transport.build(request, body)

    async def send(self, built: tuple[Transport, Any]) -> HttpResult:
        transport, request = built
        return await transport.send(request)

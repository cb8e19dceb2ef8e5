"""No log line carries a secret: httpx prints every request line with its query string,
which holds the token of Meta, GA4, sGTM and Snapchat."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from omnirelay.delivery.transports import HttpTransport
from omnirelay.destinations.base import PreparedRequest
from omnirelay.logs import QUIET_LOGGERS, UrlRedactingFilter, configure_logging, redact_urls
from omnirelay.redaction import MASK

TOKEN = "EAAB/tok+en=&% 1"


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    """Whatever a test does to the HTTP libraries' and the root's loggers is undone."""
    names = [*QUIET_LOGGERS, ""]
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).filters))
        for name in names
    }
    handlers = {id(h): list(h.filters) for h in logging.getLogger().handlers}
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters
    for handler in logging.getLogger().handlers:
        if id(handler) in handlers:
            handler.filters[:] = handlers[id(handler)]


async def test_the_request_line_httpx_logs_carries_no_query_value(
    caplog: pytest.LogCaptureFixture, restored_loggers: None
) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    transport = HttpTransport(client)
    query = httpx.QueryParams({"access_token": TOKEN, "pixel": "1"})
    url = f"https://graph.example/v25.0/1/events?{query}"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    async with client:
        result = await transport.send(transport.build(PreparedRequest("POST", url, [1]), b"{}"))
    assert result.status_code == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert line == (
        f"HTTP Request: POST https://graph.example/v25.0/1/events?access_token={MASK}&pixel={MASK}"
        ' "HTTP/1.1 200 OK"'
    )


def test_the_service_logging_quiets_the_http_libraries_and_redacts_every_handler(
    restored_loggers: None,
) -> None:
    configure_logging("DEBUG")
    for name in QUIET_LOGGERS:
        assert logging.getLogger(name).level == logging.WARNING
    handlers = logging.getLogger().handlers
    assert handlers and all(
        any(isinstance(f, UrlRedactingFilter) for f in handler.filters) for handler in handlers
    )
    configure_logging("INFO")  # once is enough: no second filter
    assert all(
        sum(isinstance(f, UrlRedactingFilter) for f in handler.filters) == 1 for handler in handlers
    )


def test_the_filter_masks_urls_in_messages_and_tracebacks() -> None:
    try:
        raise ValueError("cannot reach https://user:pw@hooks.example/in?secret=s3cr3t&x=1")
    except ValueError as exc:
        record = logging.LogRecord(
            "omnirelay.worker", logging.ERROR, __file__, 1, "sent to %s", (str(exc),), None
        )
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert UrlRedactingFilter().filter(record)
    masked = f"https://{MASK}:{MASK}@hooks.example/in?secret={MASK}&x={MASK}"
    assert record.getMessage() == f"sent to cannot reach {masked}"
    assert masked in str(record.exc_text) and "s3cr3t" not in str(record.exc_text)
    assert redact_urls("no url here: a=b") == "no url here: a=b"

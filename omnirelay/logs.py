"""Logging as the service sets it up: one format, and no credential in any line.

HTTP client libraries log each request line with its full URL (httpx at INFO: ``HTTP
Request: POST https://graph.facebook.com/v25.0/.../events?access_token=...``), and Meta,
GA4, sGTM and Snapchat take their credential in the query string. So the service keeps
``httpx`` and ``httpcore`` at WARNING, and every URL in a log line that reaches its handler
or comes from httpx has its user info and every query value masked
(:class:`UrlRedactingFilter`), whatever level someone turns them to. omnirelay's own log
lines name types, counts and paths, never URLs with their queries or secret values.
"""

from __future__ import annotations

import logging
import re

from omnirelay.redaction import mask_url

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "httpcore")
# the loggers that print the URLs they send to
URL_LOGGERS = ("httpx",)
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def redact_urls(text: str) -> str:
    """Every URL in ``text`` with its user info and query values masked."""
    if "://" not in text:
        return text
    return _URL_RE.sub(lambda match: mask_url(match.group(), every_value=True), text)


class UrlRedactingFilter(logging.Filter):
    """Masks the credentials of every URL in a record (message and traceback), in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's to report
            return True
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_urls(logging.Formatter().formatException(record.exc_info))
        return True


def _add_filter(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, UrlRedactingFilter) for f in target.filters):
        target.addFilter(UrlRedactingFilter())


def redact_library_logs() -> None:
    """Mask URLs in what the HTTP libraries log, wherever it is handled (idempotent).
    Called by whatever sends requests with credentials, so it holds in every process."""
    for name in URL_LOGGERS:
        _add_filter(logging.getLogger(name))


def configure_logging(level: str) -> None:
    """The service's logging: ``level`` for omnirelay, WARNING for the HTTP libraries, and
    URLs redacted in every line the root handlers write."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        _add_filter(handler)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    redact_library_logs()

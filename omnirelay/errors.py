"""One error family: every failure the API reports is an ``OmniRelayError``.

The handler in ``app.py`` renders them as ``{"error": code, "detail": ...}`` with the
error's status code. Details never carry secrets.
"""

from __future__ import annotations

from typing import Any


class OmniRelayError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, detail: Any = None, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(OmniRelayError):
    status_code = 404
    code = "not_found"


class Conflict(OmniRelayError):
    status_code = 409
    code = "conflict"


class InvalidInput(OmniRelayError):
    status_code = 422
    code = "validation_error"


class Unauthorized(OmniRelayError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(OmniRelayError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(OmniRelayError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(OmniRelayError):
    status_code = 503
    code = "not_ready"


class DatabaseUnavailable(OmniRelayError):
    """The database cannot be reached now; the client should retry after ``retry_after``
    seconds (sent as the ``Retry-After`` header)."""

    status_code = 503
    code = "database_unavailable"
    retry_after = 5

    def __init__(self, detail: Any = "the database is unreachable; retry later") -> None:
        super().__init__(detail)


class ConfigurationError(OmniRelayError):
    """Raised at start-up when the settings cannot work (never reaches a client)."""

    code = "configuration_error"

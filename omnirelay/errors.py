"""One error family: every failure the API reports is an ``OmniRelayError``.

The handler in ``app.py`` renders them as ``{"error": code, "detail": ...}`` with the
error's status code. Details never carry secrets.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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


class Forbidden(OmniRelayError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(OmniRelayError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


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


class ErrorBody(BaseModel):
    """What every error answer holds."""

    error: str = Field(description="a stable code: validation_error, not_found, ...")
    detail: Any = Field(description="a message, or for validation_error a list of {field, reason}")


_STATUS_TEXT = {
    400: "the body cannot be read (not JSON)",
    401: "no credentials, an unknown key or a wrong secret",
    403: "the key does not have the scope this operation needs",
    404: "no such resource",
    405: "method not allowed",
    409: "conflicts with what is stored",
    413: "the request is too large",
    415: "the body is not JSON",
    422: "invalid input: each problem names its field and the reason",
    429: "too many failed authentications from this client",
    503: "the database is unreachable; try again (Retry-After)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers an operation can give."""
    return {code: {"model": ErrorBody, "description": _STATUS_TEXT[code]} for code in sorted(codes)}


# every authenticated operation can answer these
COMMON_ERRORS = (400, 401, 403, 422, 429, 503)

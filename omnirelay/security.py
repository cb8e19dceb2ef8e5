"""Authentication and the credential vault.

The vault encrypts secrets with MultiFernet: ENCRYPTION_KEY may list several keys
(comma-separated); the first encrypts, all decrypt, and ``rotate`` re-encrypts a token
under the first key. Plain secrets never leave this module except to a destination.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from omnirelay.errors import ConfigurationError, OmniRelayError, Unauthorized

MASK = "********"


class VaultError(OmniRelayError):
    status_code = 500
    code = "vault_error"


class Vault:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("ENCRYPTION_KEY is not set")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigurationError(
                "ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64 bytes each, "
                "comma-separated); generate one with `omnirelay keygen`"
            ) from None

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            # Never echo the token: say what to check instead.
            raise VaultError(
                "a stored secret cannot be decrypted with the configured ENCRYPTION_KEY"
            ) from None

    def rotate(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored secret cannot be decrypted with any configured key"
            ) from None


_basic = HTTPBasic(auto_error=False)


async def require_basic_auth(
    request: Request, credentials: HTTPBasicCredentials | None = Depends(_basic)
) -> str:
    """Async (it never blocks), so FastAPI runs it on the event loop, not in a thread."""
    settings = request.app.state.settings
    if credentials is None:
        raise Unauthorized("HTTP Basic credentials are required")
    expected_user = (settings.basic_auth_username or "").encode()
    expected_password = settings.basic_auth_password.get_secret_value().encode()
    user_ok = secrets.compare_digest(credentials.username.encode(), expected_user)
    password_ok = secrets.compare_digest(credentials.password.encode(), expected_password)
    if not (user_ok and password_ok):
        raise Unauthorized("invalid username or password")
    return credentials.username

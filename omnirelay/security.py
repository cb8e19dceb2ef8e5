"""Authentication (API keys with scopes) and the credential vault.

Every endpoint declares the scope it needs (``require("ingest")``). A caller presents an API
key as HTTP Basic credentials (key id as user name, secret as password: what the OMS client
speaks) or as ``Authorization: Bearer <key id>.<secret>``. ``BASIC_AUTH_USERNAME`` /
``BASIC_AUTH_PASSWORD`` stay valid as the bootstrap admin, with every scope. An unknown key
or a wrong secret is 401; a key without the scope is 403. Failed attempts are logged
(never the secret) and limited per client: past ``AUTH_FAILURES_PER_MINUTE`` a client is
answered 429, right credentials or not, until its window has passed.

The vault encrypts secrets with MultiFernet: ENCRYPTION_KEY may list several keys
(comma-separated); the first encrypts, all decrypt, and ``rotate`` re-encrypts a token
under the first key. Plain secrets never leave this module except to a destination.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBearer

from omnirelay.errors import (
    ConfigurationError,
    Forbidden,
    OmniRelayError,
    TooManyRequests,
    Unauthorized,
)

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


Scope = Literal["ingest", "read", "admin", "trafficking"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin", "trafficking")
# What a scope brings with it: who may change the configuration, or traffic campaigns, may
# read what they change. Admin does not imply trafficking: creating campaigns and deploying
# them to ad platforms is a grant of its own.
IMPLIED: dict[str, frozenset[str]] = {
    "admin": frozenset({"read"}),
    "trafficking": frozenset({"read"}),
}
log = logging.getLogger("omnirelay.auth")


def effective_scopes(scopes: list[str] | frozenset[str]) -> frozenset[str]:
    granted = set(scopes)
    for scope in scopes:
        granted |= IMPLIED.get(scope, frozenset())
    return frozenset(granted)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_id() -> str:
    return f"ork_{secrets.token_hex(8)}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the bootstrap admin or an API key."""

    name: str
    key_id: str | None
    scopes: frozenset[str]
    storefronts: frozenset[str] | None = None  # None: every storefront

    def may_post_for(self, storefront_code: str) -> bool:
        return self.storefronts is None or storefront_code in self.storefronts


@dataclass(frozen=True)
class StoredKey:
    """What verification needs of a key row (cached briefly: see ``KeyCache``)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    storefronts: frozenset[str] | None
    secret_hash: str
    previous_secret_hash: str | None
    previous_valid_until: datetime | None
    revoked: bool

    def accepts(self, secret: str, now: datetime) -> bool:
        digest = hash_secret(secret)
        if secrets.compare_digest(digest, self.secret_hash):
            return True
        previous = self.previous_secret_hash
        return (
            previous is not None
            and self.previous_valid_until is not None
            and now < self.previous_valid_until
            and secrets.compare_digest(digest, previous)
        )


KeyLoader = Callable[[Any, str], Awaitable[StoredKey | None]]
KeyToucher = Callable[[Any, str], Awaitable[None]]


class KeyCache:
    """Keys as read from the database (by ``load``, given the app's state), for ``ttl``
    seconds: a revocation made in this process applies at once (``forget``), one made by
    another process within ``ttl``. ``touch`` notes that a key was used."""

    def __init__(self, load: KeyLoader, touch: KeyToucher, ttl: float = 5.0) -> None:
        self.load = load
        self.touch = touch
        self.ttl = ttl
        self._keys: dict[str, tuple[float, StoredKey | None]] = {}

    async def get(self, state: Any, key_id: str) -> StoredKey | None:
        now = time.monotonic()
        hit = self._keys.get(key_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        key = await self.load(state, key_id)
        if len(self._keys) > 10_000:  # unknown ids are cached too: bound the memory
            self._keys.clear()
        self._keys[key_id] = (now, key)
        return key

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)


class LoginGuard:
    """Failed authentications per client in a sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        failures = self._failures.get(client)
        if not failures:
            return
        now = time.monotonic()
        while failures and now - failures[0] >= 60:
            failures.popleft()
        if len(failures) >= self.per_minute:
            wait = int(60 - (now - failures[0])) + 1
            raise TooManyRequests(
                f"too many failed authentications from this client; try again in {wait} s",
                retry_after=wait,
            )

    def failed(self, client: str) -> None:
        if len(self._failures) > 100_000:
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(time.monotonic())


def _credentials(request: Request) -> tuple[str, str] | None:
    """(user or key id, password or secret) from Basic or Bearer, or None when absent."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthorized("malformed Basic credentials")
        return user, password
    if scheme.lower() == "bearer":
        key_id, sep, secret = value.partition(".")
        if not sep:
            raise Unauthorized("a Bearer token is <key id>.<secret>")
        return key_id, secret
    raise Unauthorized(f"unsupported authorization scheme {scheme[:20]!r}; use Basic or Bearer")


def _bootstrap(request: Request, user: str, password: str) -> Principal | None:
    settings = request.app.state.settings
    expected_user = (settings.basic_auth_username or "").encode()
    configured = settings.basic_auth_password
    expected_password = configured.get_secret_value().encode() if configured else b""
    user_ok = secrets.compare_digest(user.encode(), expected_user)
    password_ok = secrets.compare_digest(password.encode(), expected_password)
    if user_ok and password_ok and expected_user and expected_password:
        return Principal(user, None, frozenset(SCOPES))
    return None


async def authenticate(request: Request) -> Principal:
    """The caller, or 401 (429 once a client has failed too often)."""
    client = request.client.host if request.client else "unknown"
    state = request.app.state
    state.login_guard.check(client)
    try:
        presented = _credentials(request)
    except Unauthorized as exc:  # malformed credentials count as a failed login too
        state.login_guard.failed(client)
        log.warning(
            "authentication failed from %s on %s %s: %s",
            client,
            request.method,
            request.url.path,
            exc.detail,
        )
        raise
    if presented is None:
        raise Unauthorized("credentials are required: HTTP Basic or a Bearer API key")
    user, password = presented
    principal = _bootstrap(request, user, password)
    if principal is None:
        principal = await _api_key(request, user, password)
    if principal is None:
        state.login_guard.failed(client)
        log.warning(
            "authentication failed for %r from %s on %s %s",
            user[:64],
            client,
            request.method,
            request.url.path,
        )
        raise Unauthorized("unknown key or wrong secret")
    request.state.principal = principal
    return principal


async def _api_key(request: Request, key_id: str, secret: str) -> Principal | None:
    if not key_id.startswith("ork_") or len(key_id) > 40:
        return None
    state = request.app.state
    cache: KeyCache = state.key_cache
    key = await cache.get(state, key_id)
    if key is None or key.revoked or not key.accepts(secret, datetime.now(UTC)):
        return None
    await cache.touch(state, key_id)
    return Principal(key.name, key_id, effective_scopes(key.scopes), key.storefronts)


class _BasicScheme(HTTPBasic):
    """Declares the scheme in the OpenAPI document; ``require`` does the checking."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _BearerScheme(HTTPBearer):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


_basic_scheme = _BasicScheme(description="API key id as user name, its secret as password")
_bearer_scheme = _BearerScheme(description="<key id>.<secret>")


async def check_scope(request: Request, scope: Scope) -> Principal:
    """The caller if it has ``scope``: 401 when unknown, 403 when it lacks the scope."""
    principal = await authenticate(request)
    if scope not in principal.scopes:
        raise Forbidden(f"this key does not have the {scope!r} scope")
    return principal


def require(scope: Scope) -> Any:
    """The dependency of an endpoint that needs ``scope``."""

    async def dependency(
        request: Request,
        _basic: Any = Depends(_basic_scheme),
        _bearer: Any = Depends(_bearer_scheme),
    ) -> Principal:
        return await check_scope(request, scope)

    dependency.__name__ = f"require_{scope}"
    return Depends(dependency)

"""API keys: created with a secret shown once, listed, rotated with an overlap, revoked.
Services flush, never commit."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import session_scope
from omnirelay.errors import InvalidInput, NotFound
from omnirelay.keys import schemas as s
from omnirelay.models import ApiKey, Storefront
from omnirelay.models.base import utcnow
from omnirelay.security import StoredKey, hash_secret, new_key_id, new_secret

TOUCH_EVERY_SECONDS = 60.0  # last_used_at is written at most this often per key
log = logging.getLogger("omnirelay.auth")


async def load_key(state: Any, key_id: str) -> StoredKey | None:
    async with session_scope(state.sessionmaker, read_only=True) as session:
        key = (await session.execute(select(ApiKey).where(ApiKey.key_id == key_id))).scalar()
        if key is None:
            return None
        return StoredKey(
            key.key_id,
            key.name,
            frozenset(key.scopes),
            frozenset(key.storefronts) if key.storefronts is not None else None,
            key.secret_hash,
            key.previous_secret_hash,
            key.previous_valid_until,
            key.revoked_at is not None,
        )


_touching: set[asyncio.Task[None]] = set()


async def touch_key(state: Any, key_id: str) -> None:
    """Note when a key was last used: at most once a minute per key, in a write of its
    own beside the request (never inside or ahead of the request's transaction)."""
    touched: dict[str, float] = state.keys_touched
    now = time.monotonic()
    if now - touched.get(key_id, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
        return
    touched[key_id] = now
    used_at = utcnow()

    async def write() -> None:
        try:
            async with session_scope(state.sessionmaker) as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.key_id == key_id).values(last_used_at=used_at)
                )
        except Exception as exc:  # a note, not the request's outcome: tried again later
            touched.pop(key_id, None)
            log.warning("noting the use of key %s failed: %s", key_id, type(exc).__name__)

    task = asyncio.create_task(write())
    _touching.add(task)
    task.add_done_callback(_touching.discard)


async def _check_storefronts(session: AsyncSession, codes: list[str] | None) -> None:
    if not codes:
        return
    known = set(
        (await session.execute(select(Storefront.code).where(Storefront.code.in_(codes))))
        .scalars()
        .all()
    )
    problems = [
        {"field": f"storefronts.{index}", "reason": f"unknown storefront {code!r}"}
        for index, code in enumerate(codes)
        if code not in known
    ]
    if problems:
        raise InvalidInput(problems)


def _with_secret(key: ApiKey, secret: str) -> s.KeyWithSecret:
    out = s.KeyOut.model_validate(key)
    return s.KeyWithSecret(**out.model_dump(), secret=secret, bearer_token=f"{key.key_id}.{secret}")


async def create_key(session: AsyncSession, body: s.KeyCreate) -> s.KeyWithSecret:
    await _check_storefronts(session, body.storefronts)
    secret = new_secret()
    key = ApiKey(
        key_id=new_key_id(),
        name=body.name,
        scopes=sorted(set(body.scopes)),
        storefronts=sorted(set(body.storefronts)) if body.storefronts is not None else None,
        secret_hash=hash_secret(secret),
    )
    session.add(key)
    await session.flush()
    return _with_secret(key, secret)


async def list_keys(session: AsyncSession, include_revoked: bool = False) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list((await session.execute(statement)).scalars())


async def get_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = (await session.execute(select(ApiKey).where(ApiKey.key_id == key_id))).scalar()
    if key is None:
        raise NotFound(f"API key {key_id!r} does not exist")
    return key


async def rotate_key(session: AsyncSession, key_id: str, body: s.KeyRotate) -> s.KeyWithSecret:
    """A new secret; the old one stays valid for ``overlap_seconds`` (a secret rotated
    again within its overlap ends the older one)."""
    key = await get_key(session, key_id)
    if key.revoked_at is not None:
        raise InvalidInput([{"field": "key_id", "reason": "a revoked key cannot be rotated"}])
    secret = new_secret()
    key.previous_secret_hash = key.secret_hash
    key.previous_valid_until = utcnow() + timedelta(seconds=body.overlap_seconds)
    key.secret_hash = hash_secret(secret)
    key.updated_at = utcnow()
    await session.flush()
    return _with_secret(key, secret)


async def revoke_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await get_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.updated_at = key.revoked_at
        await session.flush()
    return key

"""Request-scoped dependencies: the session (the one transaction owner), the vault and the
outbound guard.

``DbSession`` is the way an endpoint gets a database session (``ReadScopes``, for an
endpoint that only reads and waits between reads, opens read-only ones in turn). Its scope is the
endpoint function (``scope="function"``): the transaction commits, or rolls back and the
error is answered, when the endpoint returns, before the response leaves. Work that must
follow the commit (waking the embedded worker) is registered with ``after_commit``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import session_scope
from omnirelay.netguard import OutboundGuard
from omnirelay.security import Vault


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


ReadScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def get_read_scope(request: Request) -> ReadScope:
    """Read-only scopes, opened one at a time by an endpoint that waits between reads (a
    long poll): no transaction, lock or connection is held while it waits."""
    factory = request.app.state.sessionmaker
    return lambda: session_scope(factory, read_only=True)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


async def get_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


async def get_outbound_guard(request: Request) -> OutboundGuard:
    guard: OutboundGuard = request.app.state.outbound_guard
    return guard


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadScopes = Annotated[ReadScope, Depends(get_read_scope)]
VaultDep = Annotated[Vault, Depends(get_vault)]
OutboundGuardDep = Annotated[OutboundGuard, Depends(get_outbound_guard)]

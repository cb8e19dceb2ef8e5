"""Request-scoped dependencies: the session (the transaction owner) and the vault."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import session_scope
from omnirelay.security import Vault


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


async def get_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault

"""/api/v1/credentials: brands' ad platform credentials (the admin scope). Secrets are
write-only: every answer shows them masked."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from omnirelay.crud import Page
from omnirelay.deps import DbSession, OutboundGuardDep, VaultDep
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.input_types import Limit, Offset, TextColumn
from omnirelay.security import require
from omnirelay.trafficking import credentials as service
from omnirelay.trafficking import schemas as s

router = APIRouter(
    prefix="/api/v1/credentials",
    tags=["trafficking credentials"],
    dependencies=[require("admin")],
    responses=error_responses(*COMMON_ERRORS, 404, 409),
)


@router.get("", response_model=Page[s.CredentialOut])
async def list_credentials(
    session: DbSession,
    vault: VaultDep,
    limit: Limit = 50,
    offset: Offset = 0,
    brand_id: uuid.UUID | None = None,
    market_id: uuid.UUID | None = None,
    platform: Annotated[TextColumn | None, Query(max_length=20)] = None,
    is_active: bool | None = None,
) -> Page[s.CredentialOut]:
    items, total = await service.list_credentials(
        session,
        limit=limit,
        offset=offset,
        brand_id=brand_id,
        market_id=market_id,
        platform=platform,
        is_active=is_active,
    )
    return Page(
        items=[service.credential_out(c, vault) for c in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("", response_model=s.CredentialOut, status_code=201)
async def create_credential(
    body: s.CredentialCreate, session: DbSession, vault: VaultDep, guard: OutboundGuardDep
) -> s.CredentialOut:
    credential = await service.create_credential(session, body, vault, guard)
    return service.credential_out(credential, vault)


@router.get("/{credential_id}", response_model=s.CredentialOut)
async def read_credential(
    credential_id: str, session: DbSession, vault: VaultDep
) -> s.CredentialOut:
    return service.credential_out(await service.get_credential(session, credential_id), vault)


@router.put("/{credential_id}", response_model=s.CredentialOut)
async def update_credential(
    credential_id: str,
    body: s.CredentialUpdate,
    session: DbSession,
    vault: VaultDep,
    guard: OutboundGuardDep,
) -> s.CredentialOut:
    """Only the fields sent change; ``secrets`` are merged into the stored ones."""
    credential = await service.update_credential(session, credential_id, body, vault, guard)
    return service.credential_out(credential, vault)


@router.delete("/{credential_id}", status_code=204)
async def delete_credential(credential_id: str, session: DbSession) -> Response:
    await service.delete_credential(session, credential_id)
    return Response(status_code=204)

"""/admin/v1: storefronts, sGTM configs, platforms and credentials (HTTP Basic auth)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from omnirelay.crud import Page
from omnirelay.deps import DbSession, OutboundGuardDep, VaultDep
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.input_types import DbInt, Limit, Offset
from omnirelay.security import require
from omnirelay.storefronts import schemas as s
from omnirelay.storefronts import service

router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[require("admin")],
    responses=error_responses(*COMMON_ERRORS, 404, 409),
)


# ---- storefronts -------------------------------------------------------------------------


@router.get("/storefronts", response_model=Page[s.StorefrontOut])
async def list_storefronts(
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(description="code or name contains")] = None,
) -> Page[s.StorefrontOut]:
    items, total = await service.list_storefronts(
        session, limit=limit, offset=offset, is_active=is_active, q=q
    )
    return Page(
        items=[service.storefront_out(i) for i in items], total=total, limit=limit, offset=offset
    )


@router.post("/storefronts", response_model=s.StorefrontOut, status_code=201)
async def create_storefront(body: s.StorefrontCreate, session: DbSession) -> s.StorefrontOut:
    return service.storefront_out(await service.create_storefront(session, body))


@router.get("/storefronts/{storefront}", response_model=s.StorefrontOut)
async def read_storefront(storefront: str, session: DbSession) -> s.StorefrontOut:
    """``storefront`` is the integer id or the storefront code."""
    return service.storefront_out(await service.get_storefront(session, storefront))


@router.patch("/storefronts/{storefront}", response_model=s.StorefrontOut)
async def update_storefront(
    storefront: str, body: s.StorefrontUpdate, session: DbSession
) -> s.StorefrontOut:
    return service.storefront_out(await service.update_storefront(session, storefront, body))


@router.delete("/storefronts/{storefront}", status_code=204)
async def delete_storefront(storefront: str, session: DbSession) -> Response:
    await service.delete_storefront(session, storefront)
    return Response(status_code=204)


# ---- sGTM configs ------------------------------------------------------------------------


@router.get("/sgtm-configs", response_model=Page[s.SgtmConfigOut])
async def list_sgtm_configs(
    session: DbSession,
    vault: VaultDep,
    limit: Limit = 50,
    offset: Offset = 0,
    storefront_id: str | None = None,
    is_active: bool | None = None,
    client_type: Literal["ga4", "custom"] | None = None,
) -> Page[s.SgtmConfigOut]:
    items, total = await service.list_sgtm_configs(
        session,
        limit=limit,
        offset=offset,
        storefront=storefront_id,
        is_active=is_active,
        client_type=client_type,
    )
    return Page(
        items=[service.sgtm_out(i, vault) for i in items], total=total, limit=limit, offset=offset
    )


@router.post("/sgtm-configs", response_model=s.SgtmConfigOut, status_code=201)
async def create_sgtm_config(
    body: s.SgtmConfigCreate, session: DbSession, vault: VaultDep, guard: OutboundGuardDep
) -> s.SgtmConfigOut:
    return service.sgtm_out(await service.create_sgtm_config(session, body, vault, guard), vault)


@router.get("/sgtm-configs/{config_id}", response_model=s.SgtmConfigOut)
async def read_sgtm_config(
    config_id: DbInt, session: DbSession, vault: VaultDep
) -> s.SgtmConfigOut:
    return service.sgtm_out(await service.get_sgtm_config(session, config_id), vault)


@router.patch("/sgtm-configs/{config_id}", response_model=s.SgtmConfigOut)
async def update_sgtm_config(
    config_id: DbInt,
    body: s.SgtmConfigUpdate,
    session: DbSession,
    vault: VaultDep,
    guard: OutboundGuardDep,
) -> s.SgtmConfigOut:
    config = await service.update_sgtm_config(session, config_id, body, vault, guard)
    return service.sgtm_out(config, vault)


@router.delete("/sgtm-configs/{config_id}", status_code=204)
async def delete_sgtm_config(config_id: DbInt, session: DbSession) -> Response:
    await service.delete_sgtm_config(session, config_id)
    return Response(status_code=204)


# ---- platforms ---------------------------------------------------------------------------


@router.get("/platforms", response_model=Page[s.PlatformOut])
async def list_platforms(
    session: DbSession,
    limit: Limit = 100,
    offset: Offset = 0,
    is_active: bool | None = None,
    category: s.Category | None = None,
    auth_type: s.AuthType | None = None,
    q: Annotated[str | None, Query(description="code or name contains")] = None,
) -> Page[s.PlatformOut]:
    items, total = await service.list_platforms(
        session,
        limit=limit,
        offset=offset,
        is_active=is_active,
        category=category,
        auth_type=auth_type,
        q=q,
    )
    return Page(
        items=[s.PlatformOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/platforms", response_model=s.PlatformOut, status_code=201)
async def create_platform(body: s.PlatformCreate, session: DbSession) -> s.PlatformOut:
    return s.PlatformOut.model_validate(await service.create_platform(session, body))


@router.get("/platforms/{platform}", response_model=s.PlatformOut)
async def read_platform(platform: str, session: DbSession) -> s.PlatformOut:
    """``platform`` is the integer id or the platform code."""
    return s.PlatformOut.model_validate(await service.get_platform(session, platform))


@router.patch("/platforms/{platform}", response_model=s.PlatformOut)
async def update_platform(
    platform: str, body: s.PlatformUpdate, session: DbSession
) -> s.PlatformOut:
    return s.PlatformOut.model_validate(await service.update_platform(session, platform, body))


@router.delete("/platforms/{platform}", status_code=204)
async def delete_platform(platform: str, session: DbSession) -> Response:
    await service.delete_platform(session, platform)
    return Response(status_code=204)


# ---- credentials -------------------------------------------------------------------------


@router.get("/credentials", response_model=Page[s.CredentialOut])
async def list_credentials(
    session: DbSession,
    vault: VaultDep,
    limit: Limit = 50,
    offset: Offset = 0,
    storefront_id: str | None = None,
    platform: Annotated[str | None, Query(description="platform id or code")] = None,
    is_active: bool | None = None,
) -> Page[s.CredentialOut]:
    rows, total = await service.list_credentials(
        session,
        limit=limit,
        offset=offset,
        storefront=storefront_id,
        platform=platform,
        is_active=is_active,
    )
    return Page(
        items=[service.credential_out(c, p, vault) for c, p in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/credentials", response_model=s.CredentialOut, status_code=201)
async def create_credential(
    body: s.CredentialCreate, session: DbSession, vault: VaultDep, guard: OutboundGuardDep
) -> s.CredentialOut:
    credential, platform = await service.create_credential(session, body, vault, guard)
    return service.credential_out(credential, platform, vault)


@router.get("/credentials/{credential_id}", response_model=s.CredentialOut)
async def read_credential(
    credential_id: DbInt, session: DbSession, vault: VaultDep
) -> s.CredentialOut:
    credential, platform = await service.get_credential(session, credential_id)
    return service.credential_out(credential, platform, vault)


@router.patch("/credentials/{credential_id}", response_model=s.CredentialOut)
async def update_credential(
    credential_id: DbInt,
    body: s.CredentialUpdate,
    session: DbSession,
    vault: VaultDep,
    guard: OutboundGuardDep,
) -> s.CredentialOut:
    credential, platform = await service.update_credential(
        session, credential_id, body, vault, guard
    )
    return service.credential_out(credential, platform, vault)


@router.delete("/credentials/{credential_id}", status_code=204)
async def delete_credential(credential_id: DbInt, session: DbSession) -> Response:
    await service.delete_credential(session, credential_id)
    return Response(status_code=204)

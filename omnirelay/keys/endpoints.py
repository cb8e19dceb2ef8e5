"""/admin/v1/keys: API keys (the admin scope)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from omnirelay.deps import DbSession, after_commit
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.keys import schemas as s
from omnirelay.keys import service
from omnirelay.security import require

router = APIRouter(
    prefix="/admin/v1/keys",
    tags=["keys"],
    dependencies=[require("admin")],
    responses=error_responses(*COMMON_ERRORS, 404),
)


@router.post("", status_code=201, response_model=s.KeyWithSecret)
async def create_key(body: s.KeyCreate, session: DbSession) -> s.KeyWithSecret:
    """The secret is in this answer only; it is stored as a hash."""
    return await service.create_key(session, body)


@router.get("", response_model=list[s.KeyOut])
async def list_keys(session: DbSession, include_revoked: bool = False) -> list[s.KeyOut]:
    return [s.KeyOut.model_validate(k) for k in await service.list_keys(session, include_revoked)]


@router.get("/{key_id}", response_model=s.KeyOut)
async def read_key(key_id: str, session: DbSession) -> s.KeyOut:
    return s.KeyOut.model_validate(await service.get_key(session, key_id))


@router.post("/{key_id}/rotate", response_model=s.KeyWithSecret)
async def rotate_key(
    key_id: str, request: Request, session: DbSession, body: s.KeyRotate | None = None
) -> s.KeyWithSecret:
    rotated = await service.rotate_key(session, key_id, body or s.KeyRotate())
    after_commit(session, lambda: request.app.state.key_cache.forget(key_id))
    return rotated


@router.delete("/{key_id}", response_model=s.KeyOut)
async def revoke_key(key_id: str, request: Request, session: DbSession) -> s.KeyOut:
    """Revoked at once in this process, within seconds in the others."""
    key = await service.revoke_key(session, key_id)
    after_commit(session, lambda: request.app.state.key_cache.forget(key_id))
    return s.KeyOut.model_validate(key)

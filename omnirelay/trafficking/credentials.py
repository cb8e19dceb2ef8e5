"""A brand's ad platform credentials (for one market, or for all of its markets), kept
encrypted by the vault: the account id, the access token, further secrets, and an
optional ``base_url`` (another API host, such as the sandbox) checked by the outbound
guard when it is set. Secrets are write-only: answers show them masked.

The deploy asks ``credentials_for``: the brand's credentials for the market, else the
brand's for every market.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.crud import Ref, flush_or_conflict, get_or_404, paginate, where_given
from omnirelay.errors import Conflict, InvalidInput
from omnirelay.models import Brand, Market, TraffickingCredential
from omnirelay.models.trafficking import EVERY_MARKET
from omnirelay.netguard import OutboundGuard
from omnirelay.redaction import mask_url
from omnirelay.security import MASK, Vault
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking.service import referenced

_URL = TypeAdapter(AnyHttpUrl)


def credential_out(credential: TraffickingCredential, vault: Vault) -> s.CredentialOut:
    values = vault.decrypt(credential.settings_encrypted)
    base_url = values.get("base_url")
    return s.CredentialOut(
        id=credential.id,
        brand_id=credential.brand_id,
        market_id=credential.market_id,
        platform=credential.platform,
        account_id=values.get("account_id", ""),
        access_token=MASK,
        base_url=mask_url(base_url) if base_url else None,
        api_version=values.get("api_version"),
        secrets={name: MASK for name in values.get("secrets") or {}},
        is_active=credential.is_active,
        created_at=credential.created_at,
        updated_at=credential.updated_at,
    )


async def _checked_base_url(value: str | None, guard: OutboundGuard) -> str | None:
    if value is None:
        return None
    try:
        url = str(_URL.validate_python(value)).rstrip("/")
    except ValidationError as exc:
        raise InvalidInput([{"field": "base_url", "reason": exc.errors()[0]["msg"]}]) from None
    problems = await guard.problems([("base_url", "url", url)])
    if problems:
        raise InvalidInput(problems)
    return url


async def get_credential(session: AsyncSession, ref: Ref) -> TraffickingCredential:
    return await get_or_404(session, TraffickingCredential, ref, what="credential")


async def list_credentials(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    brand_id: uuid.UUID | None,
    market_id: uuid.UUID | None,
    platform: str | None,
    is_active: bool | None,
) -> tuple[list[TraffickingCredential], int]:
    statement = select(TraffickingCredential).order_by(
        TraffickingCredential.platform, TraffickingCredential.created_at
    )
    statement = where_given(
        statement,
        (TraffickingCredential.brand_id, brand_id),
        (TraffickingCredential.market_id, market_id),
        (TraffickingCredential.platform, platform.upper() if platform else None),
        (TraffickingCredential.is_active, is_active),
    )
    return await paginate(session, statement, limit, offset)


async def create_credential(
    session: AsyncSession, body: s.CredentialCreate, vault: Vault, guard: OutboundGuard
) -> TraffickingCredential:
    brand = await referenced(session, Brand, "brand_id", body.brand_id)
    market_key = EVERY_MARKET
    if body.market_id is not None:
        market_key = str((await referenced(session, Market, "market_id", body.market_id)).id)
    values: dict[str, Any] = {
        "account_id": body.account_id,
        "access_token": body.access_token,
        "base_url": await _checked_base_url(body.base_url, guard),
        "api_version": body.api_version,
        "secrets": body.secrets or {},
    }
    where = "every market" if body.market_id is None else f"market {body.market_id}"
    message = f"brand {brand.internal_code!r} already has {body.platform} credentials for {where}"
    taken = (
        await session.execute(
            select(TraffickingCredential.id).where(
                TraffickingCredential.brand_id == brand.id,
                TraffickingCredential.market_key == market_key,
                TraffickingCredential.platform == body.platform,
            )
        )
    ).first()
    if taken:
        raise Conflict(f"{message} (id {taken[0]})")
    credential = TraffickingCredential(
        id=uuid.uuid4(),
        brand_id=brand.id,
        market_id=body.market_id,
        market_key=market_key,
        platform=body.platform,
        settings_encrypted=vault.encrypt(values),
        is_active=body.is_active,
    )
    session.add(credential)
    await flush_or_conflict(session, message)
    return credential


async def update_credential(
    session: AsyncSession, ref: Ref, body: s.CredentialUpdate, vault: Vault, guard: OutboundGuard
) -> TraffickingCredential:
    credential = await get_credential(session, ref)
    values = dict(vault.decrypt(credential.settings_encrypted))
    sent = body.model_fields_set
    for name in ("account_id", "access_token", "api_version"):
        value = getattr(body, name)
        if name in sent and value is not None:
            values[name] = value
    if "api_version" in sent and body.api_version is None:
        values["api_version"] = None
    if "base_url" in sent:  # a null goes back to the platform's own host
        values["base_url"] = await _checked_base_url(body.base_url, guard)
    if body.secrets is not None:  # merged: a secret not sent is kept
        values["secrets"] = dict(values.get("secrets") or {}) | body.secrets
    credential.settings_encrypted = vault.encrypt(values)
    if body.is_active is not None:
        credential.is_active = body.is_active
    await session.flush()
    return credential


async def delete_credential(session: AsyncSession, ref: Ref) -> None:
    await session.delete(await get_credential(session, ref))
    await session.flush()


async def credentials_for(
    session: AsyncSession, vault: Vault, brand_id: uuid.UUID, market_id: uuid.UUID, platform: str
) -> dict[str, Any] | None:
    """The decrypted settings a deploy for the brand in the market uses on ``platform``:
    the market's own, else the brand's for every market; None when neither is active."""
    rows = (
        await session.execute(
            select(TraffickingCredential).where(
                TraffickingCredential.brand_id == brand_id,
                TraffickingCredential.platform == platform.upper(),
                TraffickingCredential.market_key.in_([str(market_id), EVERY_MARKET]),
                TraffickingCredential.is_active.is_(True),
            )
        )
    ).scalars()
    chosen = sorted(rows, key=lambda c: c.market_key == EVERY_MARKET)
    if not chosen:
        return None
    values: dict[str, Any] = vault.decrypt(chosen[0].settings_encrypted)
    return values


async def reencrypt(session: AsyncSession, vault: Vault) -> int:
    """Re-encrypt every trafficking credential under the vault's first key."""
    count = 0
    for credential in (await session.execute(select(TraffickingCredential))).scalars():
        credential.settings_encrypted = vault.rotate(credential.settings_encrypted)
        count += 1
    await session.flush()
    return count

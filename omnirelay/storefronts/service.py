"""Storefronts, sGTM configs, platforms and credentials: the admin domain logic.

Paging, lookups, conflicts and partial updates come from ``omnirelay.crud``; what is left here
are this domain's rules: unique codes, secrets stored encrypted and shown masked, credentials
checked against their platform, no delete while stored data still refers to the row.
Services flush, never commit: the request's session scope owns the transaction.
"""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.crud import (
    apply_update,
    contains_text,
    flush_or_conflict,
    get_or_404,
    paginate,
    to_out,
)
from omnirelay.errors import Conflict, InvalidInput
from omnirelay.models import (
    AdAnalyticsPlatform,
    MarketingEvent,
    PlatformCredential,
    SgtmConfig,
    Storefront,
)
from omnirelay.netguard import OutboundGuard
from omnirelay.redaction import mask_url, mask_urls
from omnirelay.security import MASK, Vault
from omnirelay.storefronts import schemas as s
from omnirelay.storefronts.platform_catalog import shipped_secrets

_URL = TypeAdapter(AnyHttpUrl)
PUBLIC_ONLY = OutboundGuard()  # no OUTBOUND_ALLOW: public destinations only


async def _check_destinations(
    guard: OutboundGuard, destinations: list[tuple[str, str, Any]]
) -> None:
    """422 for every ``(field, kind, value)`` that may not be reached (``omnirelay.netguard``)."""
    problems = await guard.problems(destinations)
    if problems:
        raise InvalidInput(problems)


# ---- storefronts -------------------------------------------------------------------------


async def get_storefront(session: AsyncSession, ref: int | str) -> Storefront:
    """``ref`` is the integer id or the code; a numeric code is found when no id matches."""
    return await get_or_404(session, Storefront, ref, what="storefront", alternate=Storefront.code)


def storefront_out(storefront: Storefront) -> s.StorefrontOut:
    return to_out(s.StorefrontOut, storefront, storefront_id=storefront.code)


async def list_storefronts(
    session: AsyncSession, *, limit: int, offset: int, is_active: bool | None, q: str | None
) -> tuple[list[Storefront], int]:
    statement = select(Storefront).order_by(Storefront.id)
    if is_active is not None:
        statement = statement.where(Storefront.is_active == is_active)
    if q:
        statement = statement.where(
            or_(contains_text(Storefront.code, q), contains_text(Storefront.name, q))
        )
    return await paginate(session, statement, limit, offset)


async def _code_taken(session: AsyncSession, code: str, except_id: int | None = None) -> bool:
    statement = select(Storefront.id).where(Storefront.code == code)
    if except_id is not None:
        statement = statement.where(Storefront.id != except_id)
    return (await session.execute(statement)).first() is not None


async def create_storefront(session: AsyncSession, body: s.StorefrontCreate) -> Storefront:
    if await _code_taken(session, body.storefront_id):
        raise Conflict(f"storefront_id {body.storefront_id!r} already exists")
    storefront = Storefront(code=body.storefront_id, name=body.name, is_active=body.is_active)
    session.add(storefront)
    await flush_or_conflict(session, f"storefront_id {body.storefront_id!r} already exists")
    return storefront


async def update_storefront(
    session: AsyncSession, ref: int | str, body: s.StorefrontUpdate
) -> Storefront:
    storefront = await get_storefront(session, ref)
    code = body.storefront_id
    if (
        code is not None
        and code != storefront.code
        and await _code_taken(session, code, storefront.id)
    ):
        raise Conflict(f"storefront_id {code!r} already exists")
    apply_update(storefront, body, rename={"storefront_id": "code"})
    await flush_or_conflict(session, "storefront_id already exists")
    return storefront


async def delete_storefront(session: AsyncSession, ref: int | str) -> None:
    storefront = await get_storefront(session, ref)
    # Direct INSERTs may carry only the code until the worker resolves it.
    has_events = (
        await session.execute(
            select(
                exists().where(
                    or_(
                        MarketingEvent.storefront_id == storefront.id,
                        MarketingEvent.storefront_code == storefront.code,
                    )
                )
            )
        )
    ).scalar_one()
    message = f"storefront {storefront.code!r} has stored events; set is_active=false to stop it"
    if has_events:
        raise Conflict(message)
    await session.delete(storefront)
    await flush_or_conflict(session, message)


# ---- sGTM configs ------------------------------------------------------------------------


def sgtm_out(config: SgtmConfig, vault: Vault) -> s.SgtmConfigOut:
    headers = (
        vault.decrypt(config.custom_headers_encrypted) if config.custom_headers_encrypted else None
    )
    return to_out(
        s.SgtmConfigOut,
        config,
        sgtm_url=mask_url(config.sgtm_url),
        api_secret=MASK if config.api_secret_encrypted else None,
        custom_headers={name: MASK for name in headers} if headers is not None else None,
    )


async def get_sgtm_config(session: AsyncSession, config_id: int) -> SgtmConfig:
    return await get_or_404(session, SgtmConfig, config_id, what="sGTM config")


async def list_sgtm_configs(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    storefront: int | str | None,
    is_active: bool | None,
    client_type: str | None,
) -> tuple[list[SgtmConfig], int]:
    statement = select(SgtmConfig).order_by(SgtmConfig.id)
    if storefront is not None:
        statement = statement.where(
            SgtmConfig.storefront_id == (await get_storefront(session, storefront)).id
        )
    if is_active is not None:
        statement = statement.where(SgtmConfig.is_active == is_active)
    if client_type is not None:
        statement = statement.where(SgtmConfig.client_type == client_type)
    return await paginate(session, statement, limit, offset)


def _apply_sgtm_fields(config: SgtmConfig, body: s._SgtmFields, vault: Vault) -> None:
    def encrypt_headers(headers: dict[str, str]) -> str | None:
        return vault.encrypt(headers) if headers else None  # no headers are stored as none

    apply_update(
        config,
        body,
        exclude={"storefront_id"},  # a create body's storefront reference, resolved by the caller
        rename={"api_secret": "api_secret_encrypted", "custom_headers": "custom_headers_encrypted"},
        convert={
            "sgtm_url": lambda url: str(url).rstrip("/"),
            "api_secret": vault.encrypt,
            "custom_headers": encrypt_headers,
        },
    )
    if config.client_type == "ga4" and not config.measurement_id:
        raise InvalidInput(
            [{"field": "measurement_id", "reason": "required when client_type is 'ga4'"}]
        )


async def create_sgtm_config(
    session: AsyncSession,
    body: s.SgtmConfigCreate,
    vault: Vault,
    guard: OutboundGuard = PUBLIC_ONLY,
) -> SgtmConfig:
    storefront = await get_storefront(session, body.storefront_id)
    await _check_destinations(guard, [("sgtm_url", "url", str(body.sgtm_url))])
    taken = (
        await session.execute(
            select(SgtmConfig.id).where(SgtmConfig.storefront_id == storefront.id)
        )
    ).first()
    if taken:
        raise Conflict(f"storefront {storefront.code!r} already has an sGTM config (id {taken[0]})")
    config = SgtmConfig(
        storefront_id=storefront.id, client_type=body.client_type, is_active=body.is_active
    )
    _apply_sgtm_fields(config, body, vault)
    session.add(config)
    await flush_or_conflict(session, f"storefront {storefront.code!r} already has an sGTM config")
    return config


async def update_sgtm_config(
    session: AsyncSession,
    config_id: int,
    body: s.SgtmConfigUpdate,
    vault: Vault,
    guard: OutboundGuard = PUBLIC_ONLY,
) -> SgtmConfig:
    config = await get_sgtm_config(session, config_id)
    if body.sgtm_url is not None:
        await _check_destinations(guard, [("sgtm_url", "url", str(body.sgtm_url))])
    _apply_sgtm_fields(config, body, vault)
    await session.flush()
    return config


async def delete_sgtm_config(session: AsyncSession, config_id: int) -> None:
    await session.delete(await get_sgtm_config(session, config_id))
    await session.flush()


# ---- platforms ---------------------------------------------------------------------------


async def get_platform(session: AsyncSession, ref: int | str) -> AdAnalyticsPlatform:
    """``ref`` is the integer id or the platform code (codes never start with a digit)."""
    return await get_or_404(
        session,
        AdAnalyticsPlatform,
        ref,
        what="platform",
        alternate=AdAnalyticsPlatform.platform_code,
    )


async def list_platforms(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    is_active: bool | None,
    category: str | None,
    auth_type: str | None,
    q: str | None,
) -> tuple[list[AdAnalyticsPlatform], int]:
    statement = select(AdAnalyticsPlatform).order_by(AdAnalyticsPlatform.platform_code)
    if is_active is not None:
        statement = statement.where(AdAnalyticsPlatform.is_active == is_active)
    if category:
        statement = statement.where(AdAnalyticsPlatform.category == category)
    if auth_type:
        statement = statement.where(AdAnalyticsPlatform.auth_type == auth_type)
    if q:
        statement = statement.where(
            or_(
                contains_text(AdAnalyticsPlatform.platform_code, q),
                contains_text(AdAnalyticsPlatform.name, q),
            )
        )
    return await paginate(session, statement, limit, offset)


async def create_platform(session: AsyncSession, body: s.PlatformCreate) -> AdAnalyticsPlatform:
    taken = (
        await session.execute(
            select(AdAnalyticsPlatform.id).where(
                AdAnalyticsPlatform.platform_code == body.platform_code
            )
        )
    ).first()
    if taken:
        raise Conflict(f"platform_code {body.platform_code!r} already exists")
    platform = AdAnalyticsPlatform(
        platform_code=body.platform_code,
        name=body.name,
        category=body.category,
        auth_type=body.auth_type,
        credential_fields=[f.model_dump(exclude_none=True) for f in body.credential_fields],
        docs_url=str(body.docs_url) if body.docs_url else None,
        is_active=body.is_active,
    )
    session.add(platform)
    await flush_or_conflict(session, f"platform_code {body.platform_code!r} already exists")
    return platform


def _check_secret_flags(platform: AdAnalyticsPlatform, fields: list[Any]) -> None:
    """Whether a field is secret is the product's to say for the platforms it ships, and
    a secret field of any platform stays secret: the values stored while it was secret
    must never be shown."""
    shipped = shipped_secrets(platform.platform_code)
    was_secret = {f["name"] for f in platform.credential_fields if f.get("secret", True)}
    problems = []
    for index, spec in enumerate(fields):
        name, secret = spec.name, spec.secret
        if shipped is not None and name in shipped and secret != shipped[name]:
            reason = (
                f"whether {name!r} is secret is fixed for {platform.platform_code!r} "
                f"(secret: {str(shipped[name]).lower()})"
            )
        elif name in was_secret and not secret:
            reason = f"{name!r} is secret and stays secret (its stored values are never shown)"
        else:
            continue
        problems.append({"field": f"credential_fields.{index}.secret", "reason": reason})
    if problems:
        raise InvalidInput(problems)


async def update_platform(
    session: AsyncSession, ref: int | str, body: s.PlatformUpdate
) -> AdAnalyticsPlatform:
    platform = await get_platform(session, ref)
    if body.credential_fields is not None:
        _check_secret_flags(platform, body.credential_fields)
        fields = body.credential_fields
        platform.credential_fields = [f.model_dump(exclude_none=True) for f in fields]
    apply_update(platform, body, exclude={"credential_fields"}, convert={"docs_url": str})
    await session.flush()
    return platform


async def delete_platform(session: AsyncSession, ref: int | str) -> None:
    platform = await get_platform(session, ref)
    in_use = (
        await session.execute(select(exists().where(PlatformCredential.platform_id == platform.id)))
    ).scalar_one()
    if in_use:
        raise Conflict(
            f"platform {platform.platform_code!r} has credentials; "
            "delete them or set is_active=false"
        )
    await session.delete(platform)
    await session.flush()


# ---- credentials -------------------------------------------------------------------------


def _shown_fields(platform: AdAnalyticsPlatform) -> set[str]:
    """Fields whose values may be shown: those the platform declares non-secret.

    Everything else is masked, including stored keys the platform no longer lists (a field
    renamed in the master data must not turn a stored secret into a visible value).
    """
    shown = {f["name"] for f in platform.credential_fields if not f.get("secret", True)}
    shipped = shipped_secrets(platform.platform_code)
    if shipped is not None:  # the product's word, whatever the master data says now
        shown = {name for name in shown if shipped.get(name) is False}
    return shown | {"base_url"}


# Credential fields holding a JSON object of strings rather than a scalar.
_MAPPING_FIELDS = frozenset({"headers"})


def _type_problem(name: str, value: Any) -> str | None:
    if name in _MAPPING_FIELDS:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return "must be an object of header names to string values"
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "must be a string"
    return None


def _known_fields(platform: AdAnalyticsPlatform) -> dict[str, dict[str, Any]]:
    base_url = {"name": "base_url", "required": False, "kind": "url"}
    return {f["name"]: f for f in platform.credential_fields} | {"base_url": base_url}


def credential_destinations(
    platform: AdAnalyticsPlatform, values: dict[str, Any]
) -> list[tuple[str, str, Any]]:
    """``(field, kind, value)`` of the credential values that say where requests go: the
    fields the platform marks with a ``kind`` (``url`` or ``host``), and ``base_url``."""
    known = _known_fields(platform)
    return [
        (f"credentials.{name}", kind, value)
        for name, value in values.items()
        if value and (kind := known.get(name, {}).get("kind")) in ("url", "host")
    ]


def validate_credentials(platform: AdAnalyticsPlatform, values: dict[str, Any]) -> None:
    """Every required field present and non-empty; no field the platform does not know."""
    known = _known_fields(platform)
    problems = [
        {"field": f"credentials.{name}", "reason": "required"}
        for name, spec in known.items()
        if spec.get("required")
        and (values.get(name) is None or str(values.get(name)).strip() == "")
    ]
    problems += [
        {
            "field": f"credentials.{name}",
            "reason": f"unknown field for platform {platform.platform_code!r}",
        }
        for name in values
        if name not in known
    ]
    problems += [
        {"field": f"credentials.{name}", "reason": problem}
        for name, value in values.items()
        if name in known
        and value is not None
        and (problem := _type_problem(name, value)) is not None
    ]
    for name, value in values.items():  # base_url, and the fields marked as URLs
        if known.get(name, {}).get("kind") == "url" and value:
            problems += _url_problem(f"credentials.{name}", value)
    if problems:
        raise InvalidInput(problems)


def _url_problem(field: str, value: Any) -> list[dict[str, str]]:
    try:
        _URL.validate_python(value)
    except ValidationError as exc:
        return [{"field": field, "reason": exc.errors()[0]["msg"]}]
    return []


def credential_out(
    credential: PlatformCredential, platform: AdAnalyticsPlatform, vault: Vault
) -> s.CredentialOut:
    shown = _shown_fields(platform)
    values = vault.decrypt(credential.credentials_encrypted)
    return to_out(
        s.CredentialOut,
        credential,
        platform_code=platform.platform_code,
        credentials={k: (mask_url(v) if k in shown else MASK) for k, v in values.items()},
        settings=mask_urls(credential.settings),
    )


async def get_credential(
    session: AsyncSession, credential_id: int
) -> tuple[PlatformCredential, AdAnalyticsPlatform]:
    credential = await get_or_404(session, PlatformCredential, credential_id, what="credential")
    return credential, await session.get_one(AdAnalyticsPlatform, credential.platform_id)


async def list_credentials(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    storefront: int | str | None,
    platform: int | str | None,
    is_active: bool | None,
) -> tuple[list[tuple[PlatformCredential, AdAnalyticsPlatform]], int]:
    statement = (
        select(PlatformCredential, AdAnalyticsPlatform)
        .join(AdAnalyticsPlatform, AdAnalyticsPlatform.id == PlatformCredential.platform_id)
        .order_by(PlatformCredential.id)
    )
    if storefront is not None:
        statement = statement.where(
            PlatformCredential.storefront_id == (await get_storefront(session, storefront)).id
        )
    if platform is not None:
        statement = statement.where(
            PlatformCredential.platform_id == (await get_platform(session, platform)).id
        )
    if is_active is not None:
        statement = statement.where(PlatformCredential.is_active == is_active)
    rows, total = await paginate(session, statement, limit, offset, whole_rows=True)
    return [(c, p) for c, p in rows], total


async def _checked_settings(
    settings: dict[str, Any] | None, guard: OutboundGuard
) -> dict[str, Any] | None:
    if settings and settings.get("base_url"):
        problems = _url_problem("settings.base_url", settings["base_url"])
        if problems:
            raise InvalidInput(problems)
        await _check_destinations(guard, [("settings.base_url", "url", settings["base_url"])])
    return settings


async def create_credential(
    session: AsyncSession,
    body: s.CredentialCreate,
    vault: Vault,
    guard: OutboundGuard = PUBLIC_ONLY,
) -> tuple[PlatformCredential, AdAnalyticsPlatform]:
    if body.platform_id is None and not body.platform_code:
        raise InvalidInput(
            [{"field": "platform_id", "reason": "platform_id or platform_code is required"}]
        )
    storefront = await get_storefront(session, body.storefront_id)
    platform = await get_platform(
        session, body.platform_id if body.platform_id is not None else body.platform_code or ""
    )
    if body.platform_code and body.platform_code != platform.platform_code:
        raise InvalidInput(
            [
                {
                    "field": "platform_code",
                    "reason": f"platform_id {platform.id} is {platform.platform_code!r}, "
                    f"not {body.platform_code!r}",
                }
            ]
        )
    validate_credentials(platform, body.credentials)
    await _check_destinations(guard, credential_destinations(platform, body.credentials))
    settings = await _checked_settings(body.settings, guard)
    taken = (
        await session.execute(
            select(PlatformCredential.id).where(
                PlatformCredential.storefront_id == storefront.id,
                PlatformCredential.platform_id == platform.id,
            )
        )
    ).first()
    if taken:
        raise Conflict(
            f"storefront {storefront.code!r} already has credentials for "
            f"{platform.platform_code!r} (id {taken[0]})"
        )
    credential = PlatformCredential(
        storefront_id=storefront.id,
        platform_id=platform.id,
        credentials_encrypted=vault.encrypt(body.credentials),
        settings=settings,
        event_types=body.event_types,
        event_name_map=body.event_name_map,
        is_active=body.is_active,
    )
    session.add(credential)
    await flush_or_conflict(session, "credentials for this storefront and platform already exist")
    return credential, platform


async def update_credential(
    session: AsyncSession,
    credential_id: int,
    body: s.CredentialUpdate,
    vault: Vault,
    guard: OutboundGuard = PUBLIC_ONLY,
) -> tuple[PlatformCredential, AdAnalyticsPlatform]:
    credential, platform = await get_credential(session, credential_id)
    if body.credentials is not None:  # merged into the stored values, not replacing them
        merged = dict(vault.decrypt(credential.credentials_encrypted))
        for name, value in body.credentials.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        validate_credentials(platform, merged)
        await _check_destinations(guard, credential_destinations(platform, merged))
        credential.credentials_encrypted = vault.encrypt(merged)
    if "settings" in body.model_fields_set:
        credential.settings = await _checked_settings(body.settings, guard)
    apply_update(credential, body, exclude={"credentials", "settings"})
    await session.flush()
    return credential, platform


async def delete_credential(session: AsyncSession, credential_id: int) -> None:
    credential, _ = await get_credential(session, credential_id)
    await session.delete(credential)
    await session.flush()


async def reencrypt_secrets(session: AsyncSession, vault: Vault) -> int:
    """Re-encrypt every stored secret under the vault's first key; returns how many."""
    count = 0
    for config in (await session.execute(select(SgtmConfig))).scalars():
        if config.api_secret_encrypted:
            config.api_secret_encrypted = vault.rotate(config.api_secret_encrypted)
            count += 1
        if config.custom_headers_encrypted:
            config.custom_headers_encrypted = vault.rotate(config.custom_headers_encrypted)
            count += 1
    for credential in (await session.execute(select(PlatformCredential))).scalars():
        credential.credentials_encrypted = vault.rotate(credential.credentials_encrypted)
        count += 1
    await session.flush()
    return count

"""Storefronts, sGTM configs, platforms and credentials: the admin domain logic.

Services flush, never commit: the request's session scope owns the transaction.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.errors import Conflict, InvalidInput, NotFound
from omnirelay.models import (
    AdAnalyticsPlatform,
    MarketingEvent,
    PlatformCredential,
    SgtmConfig,
    Storefront,
)
from omnirelay.netguard import OutboundGuard
from omnirelay.security import MASK, Vault
from omnirelay.storefronts import schemas as s

M = TypeVar("M")
_URL = TypeAdapter(AnyHttpUrl)
PUBLIC_ONLY = OutboundGuard()  # no OUTBOUND_ALLOW: public destinations only


async def paginate(
    session: AsyncSession,
    statement: Select[Any] | Select[Any, Any],
    limit: int,
    offset: int,
    *,
    whole_rows: bool = False,
) -> tuple[list[Any], int]:
    """One page and the total; entities, or whole rows when the select joins several."""
    total = (
        await session.execute(select(func.count()).select_from(statement.subquery()))
    ).scalar_one()
    result = await session.execute(statement.limit(limit).offset(offset))
    rows = result.all() if whole_rows else result.scalars().all()
    return list(rows), int(total)


def _as_id(ref: int | str) -> int | None:
    """The integer a reference names, when it is one a row can have."""
    if isinstance(ref, int):
        number = ref
    elif ref.isascii() and ref.isdigit():  # str.isdigit alone accepts "²", which int() refuses
        number = int(ref)
    else:
        return None
    return number if 1 <= number <= s.MAX_ID else None


def _contains(column: Any, q: str) -> Any:
    # autoescape: "_" and "%" in a search are literal characters, not LIKE wildcards.
    return func.lower(column).contains(q.lower(), autoescape=True)


async def _check_destinations(
    guard: OutboundGuard, destinations: list[tuple[str, str, Any]]
) -> None:
    """422 for every ``(field, kind, value)`` that may not be reached (``omnirelay.netguard``)."""
    problems = await guard.problems(destinations)
    if problems:
        raise InvalidInput(problems)


async def _flush_or_conflict(session: AsyncSession, message: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(message) from None


# ---- storefronts -------------------------------------------------------------------------


async def get_storefront(session: AsyncSession, ref: int | str) -> Storefront:
    """``ref`` is the integer id or the code; a numeric code is found when no id matches."""
    storefront = None
    number = _as_id(ref)
    if number is not None:
        storefront = await session.get(Storefront, number)
    if storefront is None and isinstance(ref, str):
        storefront = (
            await session.execute(select(Storefront).where(Storefront.code == ref))
        ).scalar_one_or_none()
    if storefront is None:
        raise NotFound(f"storefront {ref!r} does not exist")
    return storefront


def storefront_out(storefront: Storefront) -> s.StorefrontOut:
    return s.StorefrontOut(
        id=storefront.id,
        storefront_id=storefront.code,
        name=storefront.name,
        is_active=storefront.is_active,
        created_at=storefront.created_at,
        updated_at=storefront.updated_at,
    )


async def list_storefronts(
    session: AsyncSession, *, limit: int, offset: int, is_active: bool | None, q: str | None
) -> tuple[list[Storefront], int]:
    statement = select(Storefront).order_by(Storefront.id)
    if is_active is not None:
        statement = statement.where(Storefront.is_active == is_active)
    if q:
        statement = statement.where(
            or_(_contains(Storefront.code, q), _contains(Storefront.name, q))
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
    await _flush_or_conflict(session, f"storefront_id {body.storefront_id!r} already exists")
    return storefront


async def update_storefront(
    session: AsyncSession, ref: int | str, body: s.StorefrontUpdate
) -> Storefront:
    storefront = await get_storefront(session, ref)
    if body.storefront_id is not None and body.storefront_id != storefront.code:
        if await _code_taken(session, body.storefront_id, storefront.id):
            raise Conflict(f"storefront_id {body.storefront_id!r} already exists")
        storefront.code = body.storefront_id
    if body.name is not None:
        storefront.name = body.name
    if body.is_active is not None:
        storefront.is_active = body.is_active
    await _flush_or_conflict(session, "storefront_id already exists")
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
    await _flush_or_conflict(session, message)


# ---- sGTM configs ------------------------------------------------------------------------


def sgtm_out(config: SgtmConfig, vault: Vault) -> s.SgtmConfigOut:
    headers = (
        vault.decrypt(config.custom_headers_encrypted) if config.custom_headers_encrypted else None
    )
    return s.SgtmConfigOut(
        id=config.id,
        storefront_id=config.storefront_id,
        sgtm_url=config.sgtm_url,
        client_type=config.client_type,
        measurement_id=config.measurement_id,
        api_secret=MASK if config.api_secret_encrypted else None,
        custom_endpoint_path=config.custom_endpoint_path,
        custom_headers={name: MASK for name in headers} if headers is not None else None,
        event_types=config.event_types,
        event_name_map=config.event_name_map,
        is_active=config.is_active,
        created_at=config.created_at,
        updated_at=config.updated_at,
    )


async def get_sgtm_config(session: AsyncSession, config_id: int) -> SgtmConfig:
    number = _as_id(config_id)
    config = await session.get(SgtmConfig, number) if number is not None else None
    if config is None:
        raise NotFound(f"sGTM config {config_id} does not exist")
    return config


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
    fields = body.model_fields_set
    if body.sgtm_url is not None:
        config.sgtm_url = str(body.sgtm_url).rstrip("/")
    for name in ("client_type", "is_active"):  # not nullable: null leaves them as they are
        if getattr(body, name) is not None:
            setattr(config, name, getattr(body, name))
    for name in ("measurement_id", "custom_endpoint_path", "event_types", "event_name_map"):
        if name in fields:  # nullable: an explicit null clears them
            setattr(config, name, getattr(body, name))
    if "api_secret" in fields:
        config.api_secret_encrypted = vault.encrypt(body.api_secret) if body.api_secret else None
    if "custom_headers" in fields:
        config.custom_headers_encrypted = (
            vault.encrypt(body.custom_headers) if body.custom_headers else None
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
    await _flush_or_conflict(session, f"storefront {storefront.code!r} already has an sGTM config")
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
    if isinstance(ref, int) or ref.isdigit():
        number = _as_id(ref)
        platform = await session.get(AdAnalyticsPlatform, number) if number is not None else None
    else:
        platform = (
            await session.execute(
                select(AdAnalyticsPlatform).where(AdAnalyticsPlatform.platform_code == ref)
            )
        ).scalar_one_or_none()
    if platform is None:
        raise NotFound(f"platform {ref!r} does not exist")
    return platform


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
                _contains(AdAnalyticsPlatform.platform_code, q),
                _contains(AdAnalyticsPlatform.name, q),
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
    await _flush_or_conflict(session, f"platform_code {body.platform_code!r} already exists")
    return platform


async def update_platform(
    session: AsyncSession, ref: int | str, body: s.PlatformUpdate
) -> AdAnalyticsPlatform:
    platform = await get_platform(session, ref)
    values = body.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None and name in (
            "name",
            "category",
            "auth_type",
            "credential_fields",
            "is_active",
        ):
            continue
        if name == "docs_url":
            value = str(value) if value else None
        setattr(platform, name, value)
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
    return s.CredentialOut(
        id=credential.id,
        storefront_id=credential.storefront_id,
        platform_id=credential.platform_id,
        platform_code=platform.platform_code,
        credentials={k: (v if k in shown else MASK) for k, v in values.items()},
        settings=credential.settings,
        event_types=credential.event_types,
        event_name_map=credential.event_name_map,
        is_active=credential.is_active,
        created_at=credential.created_at,
        updated_at=credential.updated_at,
    )


async def get_credential(
    session: AsyncSession, credential_id: int
) -> tuple[PlatformCredential, AdAnalyticsPlatform]:
    number = _as_id(credential_id)
    row = None
    if number is not None:
        row = (
            await session.execute(
                select(PlatformCredential, AdAnalyticsPlatform)
                .join(AdAnalyticsPlatform, AdAnalyticsPlatform.id == PlatformCredential.platform_id)
                .where(PlatformCredential.id == number)
            )
        ).first()
    if row is None:
        raise NotFound(f"credential {credential_id} does not exist")
    return row[0], row[1]


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


async def _check_settings(settings: dict[str, Any] | None, guard: OutboundGuard) -> None:
    if settings and settings.get("base_url"):
        problems = _url_problem("settings.base_url", settings["base_url"])
        if problems:
            raise InvalidInput(problems)
        await _check_destinations(guard, [("settings.base_url", "url", settings["base_url"])])


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
    await _check_settings(body.settings, guard)
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
        settings=body.settings,
        event_types=body.event_types,
        event_name_map=body.event_name_map,
        is_active=body.is_active,
    )
    session.add(credential)
    await _flush_or_conflict(session, "credentials for this storefront and platform already exist")
    return credential, platform


async def update_credential(
    session: AsyncSession,
    credential_id: int,
    body: s.CredentialUpdate,
    vault: Vault,
    guard: OutboundGuard = PUBLIC_ONLY,
) -> tuple[PlatformCredential, AdAnalyticsPlatform]:
    credential, platform = await get_credential(session, credential_id)
    fields = body.model_fields_set
    if body.credentials is not None:
        merged = dict(vault.decrypt(credential.credentials_encrypted))
        for name, value in body.credentials.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        validate_credentials(platform, merged)
        await _check_destinations(guard, credential_destinations(platform, merged))
        credential.credentials_encrypted = vault.encrypt(merged)
    if "settings" in fields:
        await _check_settings(body.settings, guard)
        credential.settings = body.settings
    if "event_types" in fields:
        credential.event_types = body.event_types
    if "event_name_map" in fields:
        credential.event_name_map = body.event_name_map
    if body.is_active is not None:
        credential.is_active = body.is_active
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

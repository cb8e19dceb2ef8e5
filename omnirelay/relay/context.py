"""What a batch of claimed deliveries needs at send time, read in a few bulk queries:
the events, and the destinations' live configuration (kill switches are read here, at
delivery time, so switching one off stops deliveries not yet sent)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.db import id_in
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.destinations.base import DestinationTarget, OutboundEvent
from omnirelay.models import (
    AdAnalyticsPlatform,
    MarketingEvent,
    PlatformCredential,
    SgtmConfig,
    Storefront,
)
from omnirelay.security import Vault, VaultError


@dataclass
class ResolvedDestination:
    """A destination as configured now; ``blocked`` says why nothing may be sent."""

    target: DestinationTarget | None
    event_types: list[str] | None
    event_name_map: dict[str, str]
    blocked: str | None = None
    # why it cannot be sent now though it may be later (credentials that cannot be
    # decrypted until the key is configured again): its deliveries are retried
    failed: str | None = None
    # whose row it is: a delivery of another storefront (or, for a credential, another
    # platform) is not sent with it (see ``destination_for``)
    storefront_id: int | None = None
    platform_code: str | None = None


def _unresolvable(exc: Exception) -> ResolvedDestination:
    """A destination whose configuration cannot be read: only its deliveries wait."""
    if isinstance(exc, VaultError):
        reason = (
            "credentials cannot be decrypted with the configured ENCRYPTION_KEY "
            "(was the key that encrypted them removed?)"
        )
    else:
        reason = f"destination configuration cannot be read: {type(exc).__name__}"
    return ResolvedDestination(None, None, {}, failed=reason)


def _resolve(
    owner: tuple[int, str | None], build: Callable[..., ResolvedDestination], *args: Any
) -> ResolvedDestination:
    try:
        resolved = build(*args)
    except Exception as exc:  # one destination's bad configuration stops only its deliveries
        resolved = _unresolvable(exc)
    resolved.storefront_id, resolved.platform_code = owner
    return resolved


def _deleted(delivery: ClaimedDelivery) -> ResolvedDestination:
    reason = "sGTM config deleted" if delivery.destination_type == "sgtm" else "credential deleted"
    return ResolvedDestination(None, None, {}, blocked=reason)


def destination_for(
    delivery: ClaimedDelivery, destinations: dict[str, ResolvedDestination]
) -> ResolvedDestination:
    """The destination a delivery goes to: the row its key names, if that row is still the
    delivery's own (same storefront, and for a credential the same platform). Ids are never
    reused, but a database that reused one before they were (SQLite without AUTOINCREMENT)
    may hold another storefront's credential under a deleted one's id: that delivery's
    destination was deleted, and nothing of it is sent to the new row."""
    destination = destinations.get(delivery.destination_key)
    if destination is None or destination.storefront_id != delivery.storefront_id:
        return _deleted(delivery)
    if delivery.destination_type != "sgtm" and destination.platform_code != (
        delivery.destination_code
    ):
        return _deleted(delivery)
    return destination


@dataclass(slots=True)
class StoredEvent:
    """An event as the engine reads it: plain values, payload parsed once."""

    id: int
    event_id: str
    event_type: str
    event_time: datetime | None
    received_at: datetime
    storefront_code: str | None
    payload: dict[str, Any]
    payload_json: str | None = None  # the text it was parsed from

    def when(self) -> datetime:
        """The stored event time; for a direct INSERT, the payload's, else when it arrived."""
        if self.event_time is not None:
            return self.event_time
        raw = self.payload.get("event_time")
        if isinstance(raw, str):
            try:
                value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            except (ValueError, OverflowError):  # OverflowError: UTC is beyond year 1 or 9999
                return self.received_at
        return self.received_at


@dataclass
class StorefrontRoutes:
    storefront: Storefront
    sgtm: SgtmConfig | None = None
    platforms: list[tuple[PlatformCredential, AdAnalyticsPlatform]] = field(default_factory=list)


@dataclass
class RelayHint:
    """What routing read for the deliveries it has just created and claimed: their events
    and their storefronts' destinations (sent in the same pass, not read again)."""

    events: dict[int, StoredEvent] = field(default_factory=dict)
    routes: list[StorefrontRoutes] = field(default_factory=list)

    def merged(self, other: RelayHint) -> RelayHint:
        return RelayHint(self.events | other.events, self.routes + other.routes)


def outbound_event(
    delivery: ClaimedDelivery, event: StoredEvent, name_map: dict[str, str], default_names: Any
) -> OutboundEvent:
    name = name_map.get(event.event_type) or default_names.get(event.event_type) or event.event_type
    return OutboundEvent(
        delivery_id=delivery.id,
        event_id=event.event_id,
        event_type=event.event_type,
        destination_event_name=name,
        event_time=event.when(),
        storefront_code=event.storefront_code or "",
        payload=event.payload,
        payload_json=event.payload_json,
    )


_EVENT_COLUMNS = (
    MarketingEvent.id,
    MarketingEvent.event_id,
    MarketingEvent.event_type,
    MarketingEvent.event_time,
    MarketingEvent.received_at,
    MarketingEvent.storefront_code,
    MarketingEvent.event_payload,
)


async def load_events(
    session: AsyncSession, event_ids: Iterable[int]
) -> tuple[dict[int, StoredEvent], dict[int, str]]:
    """The events, and why each one that cannot be sent cannot (a stored payload that no
    longer reads as a JSON object, edited after it was accepted): that event's problem
    alone, never its batch's."""
    rows = await session.execute(
        select(*_EVENT_COLUMNS).where(id_in(session, MarketingEvent.id, set(event_ids)))
    )
    events: dict[int, StoredEvent] = {}
    unreadable: dict[int, str] = {}
    for row in rows:
        try:
            payload = orjson.loads(row[6])
        except orjson.JSONDecodeError as exc:
            unreadable[row[0]] = f"the stored payload is not JSON: {exc}"[:300]
            continue
        if not isinstance(payload, dict):
            unreadable[row[0]] = "the stored payload is not a JSON object"
            continue
        events[row[0]] = StoredEvent(*row[:6], payload, row[6])
    return events, unreadable


async def resolve_destinations(
    session: AsyncSession, deliveries: list[ClaimedDelivery], vault: Vault
) -> dict[str, ResolvedDestination]:
    """Keyed by ``destination_key`` (``sgtm:<id>`` or ``platform:<credential id>``); a key
    whose row is gone is a deleted destination. Each resolved row names its storefront and
    platform, which ``destination_for`` checks against the delivery's."""
    storefront_ids = {d.storefront_id for d in deliveries}
    storefronts = {
        s.id: s
        for s in (
            await session.execute(select(Storefront).where(Storefront.id.in_(storefront_ids)))
        ).scalars()
    }
    resolved: dict[str, ResolvedDestination] = {}
    sgtm_ids = {d.sgtm_config_id for d in deliveries if d.sgtm_config_id is not None}
    credential_ids = {d.credential_id for d in deliveries if d.credential_id is not None}
    if sgtm_ids:
        for config in (
            await session.execute(select(SgtmConfig).where(SgtmConfig.id.in_(sgtm_ids)))
        ).scalars():
            resolved[f"sgtm:{config.id}"] = _resolve(
                (config.storefront_id, None),
                sgtm_destination,
                config,
                storefronts.get(config.storefront_id),
                vault,
            )
    if credential_ids:
        rows = await session.execute(
            select(PlatformCredential, AdAnalyticsPlatform)
            .join(AdAnalyticsPlatform, AdAnalyticsPlatform.id == PlatformCredential.platform_id)
            .where(PlatformCredential.id.in_(credential_ids))
        )
        for credential, platform in rows:
            resolved[f"platform:{credential.id}"] = _resolve(
                (credential.storefront_id, platform.platform_code),
                platform_destination,
                credential,
                platform,
                storefronts.get(credential.storefront_id),
                vault,
            )
    for delivery in deliveries:
        if delivery.destination_key not in resolved:
            resolved[delivery.destination_key] = _deleted(delivery)
    return resolved


def routed_destinations(
    routes: Iterable[StorefrontRoutes], vault: Vault
) -> dict[str, ResolvedDestination]:
    """The destinations routing has just read, keyed like ``resolve_destinations``: the
    deliveries it created are sent within the same pass, so their configuration (kill
    switches included) is not read a second time."""
    resolved: dict[str, ResolvedDestination] = {}
    for route in routes:
        if route.sgtm is not None:
            resolved[f"sgtm:{route.sgtm.id}"] = _resolve(
                (route.storefront.id, None), sgtm_destination, route.sgtm, route.storefront, vault
            )
        for credential, platform in route.platforms:
            resolved[f"platform:{credential.id}"] = _resolve(
                (route.storefront.id, platform.platform_code),
                platform_destination,
                credential,
                platform,
                route.storefront,
                vault,
            )
    return resolved


def _storefront_block(storefront: Storefront | None) -> str | None:
    if storefront is None:
        return "storefront was deleted"
    if not storefront.is_active:
        return f"storefront {storefront.code!r} is inactive"
    return None


def sgtm_destination(
    config: SgtmConfig, storefront: Storefront | None, vault: Vault
) -> ResolvedDestination:
    blocked = _storefront_block(storefront) or (
        None if config.is_active else "sGTM config is inactive"
    )
    if blocked:
        return ResolvedDestination(None, config.event_types, {}, blocked)
    credentials: dict[str, Any] = {}
    if config.api_secret_encrypted:
        credentials["api_secret"] = vault.decrypt(config.api_secret_encrypted)
    if config.custom_headers_encrypted:
        credentials["custom_headers"] = vault.decrypt(config.custom_headers_encrypted)
    settings = {
        "sgtm_url": config.sgtm_url,
        "measurement_id": config.measurement_id,
        "custom_endpoint_path": config.custom_endpoint_path,
    }
    return ResolvedDestination(
        DestinationTarget(credentials=credentials, settings=settings),
        config.event_types,
        dict(config.event_name_map or {}),
    )


def platform_destination(
    credential: PlatformCredential,
    platform: AdAnalyticsPlatform,
    storefront: Storefront | None,
    vault: Vault,
) -> ResolvedDestination:
    blocked = (
        _storefront_block(storefront)
        or (None if platform.is_active else f"platform {platform.platform_code!r} is inactive")
        or (None if credential.is_active else "platform credential is inactive")
    )
    if blocked:
        return ResolvedDestination(None, credential.event_types, {}, blocked)
    return ResolvedDestination(
        DestinationTarget(
            credentials=vault.decrypt(credential.credentials_encrypted),
            settings=dict(credential.settings or {}),
        ),
        credential.event_types,
        dict(credential.event_name_map or {}),
    )

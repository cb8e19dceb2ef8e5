"""The demo storefront: every dedicated platform wired to the local sandbox, so a newcomer
sees events flow end to end without any real account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.models import AdAnalyticsPlatform, PlatformCredential, Storefront
from omnirelay.security import Vault

DEMO_CODE = "demo"
DEMO_CREDENTIALS: dict[str, dict[str, str]] = {
    "meta": {"pixel_id": "1234567890", "access_token": "demo-meta-token"},
    "ga4": {"measurement_id": "G-DEMO12345", "api_secret": "demo-ga4-secret"},
    "tiktok": {"pixel_code": "CDEMO1234567890", "access_token": "demo-tiktok-token"},
    "snapchat": {"pixel_id": "demo-snap-pixel", "access_token": "demo-snap-token"},
    "pinterest": {"ad_account_id": "549755885175", "access_token": "demo-pinterest-token"},
}
# The sandbox's fakes demand what the real platforms demand; OMS orders carry no browser
# context, so the demo sends them as server-side ("other"/offline) conversions.
DEMO_SETTINGS: dict[str, dict[str, str]] = {
    "meta": {"action_source": "system_generated"},
    "snapchat": {"action_source": "OFFLINE"},
    "pinterest": {"action_source": "offline"},
}


async def create_demo_storefront(
    session: AsyncSession, vault: Vault, sandbox_url: str
) -> list[str]:
    storefront = (
        await session.execute(select(Storefront).where(Storefront.code == DEMO_CODE))
    ).scalar_one_or_none()
    if storefront is None:
        storefront = Storefront(code=DEMO_CODE, name="Demo storefront (sandbox)", is_active=True)
        session.add(storefront)
        await session.flush()
    platforms = {
        p.platform_code: p
        for p in (
            await session.execute(
                select(AdAnalyticsPlatform).where(
                    AdAnalyticsPlatform.platform_code.in_(DEMO_CREDENTIALS)
                )
            )
        ).scalars()
    }
    existing = {
        c.platform_id
        for c in (
            await session.execute(
                select(PlatformCredential).where(PlatformCredential.storefront_id == storefront.id)
            )
        ).scalars()
    }
    created = []
    for code, values in DEMO_CREDENTIALS.items():
        platform = platforms[code]
        if platform.id in existing:
            continue
        settings = {"base_url": f"{sandbox_url.rstrip('/')}/{code}"} | DEMO_SETTINGS.get(code, {})
        session.add(
            PlatformCredential(
                storefront_id=storefront.id,
                platform_id=platform.id,
                credentials_encrypted=vault.encrypt(values),
                settings=settings,
                is_active=True,
            )
        )
        created.append(code)
    await session.flush()
    return created or ["(already set up)"]

"""Drafts and credentials for every platform, and a sender through the real HTTP
transport to the in-process sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest

from omnirelay.delivery.transports import HttpTransport
from omnirelay.destinations.base import HttpResult, PreparedRequest
from omnirelay.sandbox.campaigns import CAMPAIGNS
from omnirelay.trafficking.platforms.base import (
    CampaignClient,
    Done,
    PlatformCredentials,
    StepOutcome,
)
from omnirelay.trafficking.translators.base import CampaignDraft

TOKEN = "secret-platform-token"
DEV_TOKEN = "secret-developer-token"
CONFIGS = {
    "META": {"objective": "OUTCOME_TRAFFIC", "special_ad_categories": []},
    "TIKTOK": {"objective_type": "TRAFFIC"},
    "SNAPCHAT": {"objective": "BRAND_AWARENESS"},
    "PINTEREST": {"objective_type": "CONSIDERATION"},
    "GOOGLE_ADS": {"advertising_channel_type": "SEARCH"},
}
ACCOUNTS = {
    "META": "1234567890",
    "TIKTOK": "7000000000000000001",
    "SNAPCHAT": "8adc3db7-8148-4fbf-999c-8d2266369d74",
    "PINTEREST": "549755885175",
    "GOOGLE_ADS": "123-456-7890",
}
PLATFORMS = list(CONFIGS)  # every platform with a deploy client
SANDBOX_PREFIX = {
    "META": "meta",
    "TIKTOK": "tiktok",
    "SNAPCHAT": "snapchat",
    "PINTEREST": "pinterest",
    "GOOGLE_ADS": "google_ads",
}


def draft_for(platform: str, name: str = "DIS_US_META_2026_MoanaLaunch") -> CampaignDraft:
    return CampaignDraft(
        ticket_id=f"ticket-{platform}-{name}",
        campaign_id="campaign-1",
        campaign_name=name,
        budget=Decimal(100),
        currency="USD",
        request_type="CREATE_CAMPAIGN",
        payload_config=CONFIGS[platform],
        start_date=date(2026, 5, 1),
    )


def creds_for(platform: str, base_url: str | None = None) -> PlatformCredentials:
    return PlatformCredentials(
        account_id=ACCOUNTS[platform],
        access_token=TOKEN,
        base_url=base_url,
        developer_token=DEV_TOKEN if platform == "GOOGLE_ADS" else None,
    )


Sender = Callable[[PreparedRequest], Awaitable[HttpResult]]


@pytest.fixture
async def send(sandbox_http: httpx.AsyncClient) -> AsyncIterator[Sender]:
    CAMPAIGNS.reset()
    transport = HttpTransport(sandbox_http)

    async def deliver(request: PreparedRequest) -> HttpResult:
        body = request.body_bytes() if request.has_body else None
        return await transport.send(transport.build(request, body))

    yield deliver
    CAMPAIGNS.reset()


async def run_deploy(
    client: CampaignClient,
    draft: CampaignDraft,
    creds: PlatformCredentials,
    send: Sender,
    retried: bool = False,
) -> tuple[Done, list[StepOutcome]]:
    """Every step of one deploy in order, as the deploy kind runs them: the outcome and
    the steps' outcomes."""
    outcomes: list[StepOutcome] = []
    while True:
        step = client.next_step(draft, creds, outcomes, retried)
        if isinstance(step, Done):
            return step, outcomes
        outcomes.append(client.classify(step, await send(step.request)))

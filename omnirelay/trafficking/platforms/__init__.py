"""Deploy clients, one module per ad platform: the requests that create a ticket's campaign
and what each answer means (see ``base`` for the step sequence a delivery kind runs)."""

from __future__ import annotations

from omnirelay.trafficking.platforms.base import CampaignClient
from omnirelay.trafficking.platforms.google_ads import GoogleAdsCampaignClient
from omnirelay.trafficking.platforms.meta import MetaCampaignClient
from omnirelay.trafficking.platforms.pinterest import PinterestCampaignClient
from omnirelay.trafficking.platforms.snapchat import SnapchatCampaignClient
from omnirelay.trafficking.platforms.tiktok import TikTokCampaignClient
from omnirelay.trafficking.translators import translator_for

_CLIENTS: dict[str, CampaignClient] = {
    client.platform: client
    for client in (
        MetaCampaignClient(),
        TikTokCampaignClient(),
        SnapchatCampaignClient(),
        PinterestCampaignClient(),
        GoogleAdsCampaignClient(),
    )
}


def all_clients() -> list[CampaignClient]:
    return list(_CLIENTS.values())


def client_for(platform_name: str) -> CampaignClient:
    """The deploy client of a channel's platform (named as ``translator_for`` names it)."""
    return _CLIENTS[translator_for(platform_name).platform]

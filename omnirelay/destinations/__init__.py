"""Destination registry: code -> module instance.

Codes of platform destinations equal ``ad_analytics_platforms.platform_code``; the two sGTM
client types have codes of their own.
"""

from __future__ import annotations

from omnirelay.destinations.base import Destination
from omnirelay.destinations.ga4 import Ga4MeasurementProtocol
from omnirelay.destinations.meta import MetaConversionsApi
from omnirelay.destinations.pinterest import PinterestConversionsApi
from omnirelay.destinations.sgtm import SgtmCustomClient, SgtmGa4Client
from omnirelay.destinations.snapchat import SnapchatConversionsApi
from omnirelay.destinations.tiktok import TikTokEventsApi
from omnirelay.destinations.webhook import GenericWebhook

DESTINATIONS: dict[str, Destination] = {
    destination.code: destination
    for destination in (
        MetaConversionsApi(),
        Ga4MeasurementProtocol(),
        TikTokEventsApi(),
        SnapchatConversionsApi(),
        PinterestConversionsApi(),
        GenericWebhook(),
        SgtmGa4Client(),
        SgtmCustomClient(),
    )
}

SGTM_CODES = {"ga4": SgtmGa4Client.code, "custom": SgtmCustomClient.code}


def get_destination(code: str) -> Destination | None:
    return DESTINATIONS.get(code)

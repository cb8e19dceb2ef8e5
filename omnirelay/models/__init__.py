"""Every ORM table, on one MetaData (Alembic's target)."""

from typing import Any

from sqlalchemy import Table

from omnirelay.models.api_key import ApiKey
from omnirelay.models.base import Base
from omnirelay.models.delivery import (
    Delivery,
    DeliveryAttempt,
    DeliveryRequest,
    DeliveryStatus,
)
from omnirelay.models.event import BEHAVIOURAL_SOURCE, EventStatus, MarketingEvent
from omnirelay.models.message_send import MessageSend, MessageSendStatus
from omnirelay.models.messaging import (
    EventProperties,
    EventTraits,
    MessageCapSlot,
    MessageDecision,
    MessageInbox,
    MessageSuppression,
    UserTraits,
)
from omnirelay.models.platform import AdAnalyticsPlatform, PlatformCredential
from omnirelay.models.storefront import SgtmConfig, Storefront
from omnirelay.models.trafficking import (
    Brand,
    Campaign,
    CampaignName,
    CampaignStatus,
    Channel,
    Market,
    Ticket,
    TicketStatus,
    TicketStatusHistory,
    TraffickingCredential,
)


def table_of(model: Any) -> Table:
    """The Core table of a model, for bulk statements on hot paths."""
    table: Table = model.__table__
    return table


__all__ = [
    "BEHAVIOURAL_SOURCE",
    "AdAnalyticsPlatform",
    "ApiKey",
    "Base",
    "Brand",
    "Campaign",
    "CampaignName",
    "CampaignStatus",
    "Channel",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryRequest",
    "DeliveryStatus",
    "EventProperties",
    "EventStatus",
    "EventTraits",
    "Market",
    "MarketingEvent",
    "MessageCapSlot",
    "MessageDecision",
    "MessageInbox",
    "MessageSend",
    "MessageSendStatus",
    "MessageSuppression",
    "PlatformCredential",
    "SgtmConfig",
    "Storefront",
    "Ticket",
    "TicketStatus",
    "TicketStatusHistory",
    "TraffickingCredential",
    "UserTraits",
    "table_of",
]

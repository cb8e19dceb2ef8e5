"""Every ORM table, on one MetaData (Alembic's target)."""

from omnirelay.models.base import Base
from omnirelay.models.delivery import (
    DeliveryRequest,
    DeliveryStatus,
    EventAttempt,
    EventDelivery,
)
from omnirelay.models.event import EventStatus, MarketingEvent
from omnirelay.models.platform import AdAnalyticsPlatform, PlatformCredential
from omnirelay.models.storefront import SgtmConfig, Storefront

__all__ = [
    "AdAnalyticsPlatform",
    "Base",
    "DeliveryRequest",
    "DeliveryStatus",
    "EventAttempt",
    "EventDelivery",
    "EventStatus",
    "MarketingEvent",
    "PlatformCredential",
    "SgtmConfig",
    "Storefront",
]

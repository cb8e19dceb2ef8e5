from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    CaseSensitiveString,
    JSONText,
    TimestampMixin,
)


class AdAnalyticsPlatform(TimestampMixin, Base):
    """Master data of a platform. ``is_active`` is the third (global) kill switch."""

    __tablename__ = "ad_analytics_platforms"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_code: Mapped[str] = mapped_column(CaseSensitiveString(50), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    category: Mapped[str] = mapped_column(String(30), nullable=False, server_default="ads")
    auth_type: Mapped[str] = mapped_column(String(30), nullable=False)
    credential_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, nullable=False)
    docs_url: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())


class PlatformCredential(TimestampMixin, Base):
    """A storefront's credentials for one platform, encrypted. ``is_active``: fourth switch."""

    __tablename__ = "platform_credentials"
    __table_args__ = (UniqueConstraint("storefront_id", "platform_id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storefront_id: Mapped[int] = mapped_column(
        ForeignKey("storefronts.id", ondelete="CASCADE"), nullable=False
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("ad_analytics_platforms.id", ondelete="CASCADE"), nullable=False, index=True
    )
    credentials_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    # Non-secret delivery settings: base_url override, test_event_code, api_version, ...
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    event_types: Mapped[list[str] | None] = mapped_column(JSONText)
    event_name_map: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())

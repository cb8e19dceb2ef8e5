from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    CaseSensitiveString,
    JSONText,
    TimestampMixin,
)


class Storefront(TimestampMixin, Base):
    """A storefront (tenant). ``is_active`` is the first kill switch."""

    __tablename__ = "storefronts"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The seed names the code column ``storefront_id``; the ORM calls it ``code``.
    code: Mapped[str] = mapped_column(
        "storefront_id", CaseSensitiveString(50), unique=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())


class SgtmConfig(TimestampMixin, Base):
    """Server-side GTM destination of one storefront. ``is_active`` is the second kill switch."""

    __tablename__ = "storefront_sgtm_config"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storefront_id: Mapped[int] = mapped_column(
        ForeignKey("storefronts.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    sgtm_url: Mapped[str] = mapped_column(String(500), nullable=False)
    client_type: Mapped[str] = mapped_column(String(20), nullable=False, server_default="ga4")
    measurement_id: Mapped[str | None] = mapped_column(String(50))
    api_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    custom_endpoint_path: Mapped[str | None] = mapped_column(String(255))
    custom_headers_encrypted: Mapped[str | None] = mapped_column(Text)
    # Which omnirelay event types go out (None: all) and per-type name overrides.
    event_types: Mapped[list[str] | None] = mapped_column(JSONText)
    event_name_map: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import Base, JSONText, TimestampMixin, UTCDateTime


class ApiKey(TimestampMixin, Base):
    """An API key: a public ``key_id`` and a secret kept only as its SHA-256 (the secret is
    256 random bits, so a fast hash is as safe as a slow one; it is shown once). During a
    rotation the previous secret stays valid until ``previous_valid_until``."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONText(), nullable=False)
    storefronts: Mapped[list[str] | None] = mapped_column(JSONText())  # None: every one
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

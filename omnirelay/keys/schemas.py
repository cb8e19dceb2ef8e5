from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnirelay.security import Scope

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
StorefrontCode = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    scopes: list[Scope] = Field(min_length=1)
    storefronts: list[StorefrontCode] | None = Field(
        default=None,
        description="storefront codes an ingest key may post for; omitted: every storefront",
        max_length=1000,
    )


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        default=86_400, ge=0, le=30 * 86_400, description="how long the old secret stays valid"
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key_id: str
    name: str
    scopes: list[str]
    storefronts: list[str] | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    previous_valid_until: datetime | None


class KeyWithSecret(KeyOut):
    secret: str = Field(description="shown once: store it now")
    bearer_token: str = Field(description="the same key as a Bearer token")

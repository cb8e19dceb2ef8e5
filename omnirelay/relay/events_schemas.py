from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from omnirelay.input_types import DbInt, TextColumn, UtcDatetime
from omnirelay.storefronts.schemas import StorefrontRef


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class EventSummary(_Out):
    id: int
    event_id: str
    storefront_id: int | None
    storefront_code: str | None
    event_type: str
    source_system: str
    status: str
    status_detail: str | None
    user_id: str | None
    event_time: datetime | None
    received_at: datetime
    processed_at: datetime | None


class AttemptOut(_Out):
    id: int
    delivery_id: int | None
    destination_type: str
    destination_code: str
    attempt_number: int
    status: str
    http_status: int | None
    duration_ms: int | None
    error: str | None
    warnings: str | None
    attempted_at: datetime
    request_url: str | None = None
    request_body: Any = None
    response_body: str | None = None


class DeliveryOut(_Out):
    id: int
    destination_type: str
    destination_code: str
    status: str
    attempt_count: int
    next_attempt_at: datetime
    last_error: str | None
    last_http_status: int | None
    delivered_at: datetime | None


class EventDetail(EventSummary):
    event_payload: Any
    deliveries: list[DeliveryOut]
    attempts: list[AttemptOut]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: list[DbInt] | None = None
    event_ids: list[DbInt] | None = Field(default=None, description="marketing_events.id values")
    storefront_id: StorefrontRef | None = None
    destination: TextColumn | None = Field(
        default=None, description="destination code, e.g. 'meta'"
    )
    statuses: list[str] = Field(default_factory=lambda: ["dead"], description="dead, skipped, ...")
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    limit: int = Field(default=10_000, ge=1, le=1_000_000)


class ReplayResult(BaseModel):
    replayed: int
    delivery_ids: list[int]

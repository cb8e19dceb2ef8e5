"""The OMS batch envelope (seed 000/001) and the ingestion answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

IdString = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class EventItem(BaseModel):
    """One item of ``data``. Known fields are checked; the raw item is stored as sent.

    Kept free of Python-level validators: it runs once per event on the ingest hot path.
    """

    # Order ids arrive as strings or numbers; booleans are never ids.
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, coerce_numbers_to_str=True, str_strip_whitespace=True
    )

    storefront_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    event_name: Annotated[
        str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:\- ]+$")
    ]
    event_time: datetime  # without an offset it is taken as UTC (see ingest_service)
    order_id: IdString
    t_value: str | None = Field(default=None, alias="t-value", max_length=255)
    session_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    order_revenue: float | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None


class BatchEnvelope(BaseModel):
    """The OMS paging envelope. Items are validated one by one, not here."""

    model_config = ConfigDict(extra="allow")

    count: int | None = Field(default=None, ge=0)
    data: list[Any]
    error: str | None = None
    next_index: int | str | None = None
    next_url: str | None = None
    previous_index: int | str | None = None
    previous_url: str | None = None


class RejectedItem(BaseModel):
    index: int
    field: str | None
    reason: str
    order_id: str | None = None


class IngestResult(BaseModel):
    received: int
    accepted: int
    duplicates: int
    rejected: list[RejectedItem]

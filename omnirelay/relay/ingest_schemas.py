"""The OMS batch envelope (seed 000/001) and the ingestion answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)


def _id_string(value: Any) -> Any:
    # Order ids arrive as strings or as numbers; booleans are never ids.
    if isinstance(value, bool):
        raise ValueError("must be a string or a number")
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


IdString = Annotated[
    str,
    BeforeValidator(_id_string),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
]


class EventItem(BaseModel):
    """One item of ``data``. Known fields are checked; every field is kept as sent."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True)

    storefront_id: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    event_name: Annotated[
        str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:\- ]+$")
    ]
    event_time: datetime
    order_id: IdString
    t_value: str | None = Field(default=None, alias="t-value", max_length=255)
    session_id: IdString | None = None
    order_revenue: float | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None

    @field_validator("event_time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # A timestamp without an offset is taken as UTC, as the OMS sends UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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

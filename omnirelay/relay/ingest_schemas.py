"""The OMS batch envelope (seed 000/001) and the ingestion answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from omnirelay.input_types import NUL_REASON, UtcDatetime

IdString = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _id_shape(value: Any) -> Any:
    # 1.5, 2e3 or 1e400 name no order: an id is what the OMS wrote, digit for digit.
    if type(value) is float:
        raise ValueError("must be a string or an integer")
    if type(value) is str and "\x00" in value:
        raise ValueError(NUL_REASON)
    return value


def _not_a_boolean(value: Any) -> Any:
    if type(value) is bool:
        raise ValueError("must be a number, not a boolean")
    return value


OrderId = Annotated[IdString, BeforeValidator(_id_shape)]
# What every platform takes as a value: a finite number (or its decimal string).
Revenue = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_a_boolean)]


class EventItem(BaseModel):
    """One item of ``data``. Known fields are checked; the raw item is stored as sent.

    It runs once per event on the ingest hot path: its only Python-level validators are
    type checks and the conversion to UTC.
    """

    # Order ids arrive as strings or integers; booleans and floats are never ids.
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, coerce_numbers_to_str=True, str_strip_whitespace=True
    )

    storefront_id: Annotated[
        str, StringConstraints(min_length=1, max_length=50), BeforeValidator(_id_shape)
    ]
    event_name: Annotated[
        str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:\- ]+$")
    ]
    event_time: UtcDatetime  # without an offset it is taken as UTC
    order_id: OrderId
    t_value: str | None = Field(default=None, alias="t-value", max_length=255)
    session_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    order_revenue: Revenue | None = None
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


class DuplicateInBatch(BaseModel):
    """An item that is the same event (storefront, event type, order id) as an earlier item
    of the same batch; only the earlier one is stored."""

    index: int
    duplicate_of: int
    order_id: str


class IngestResult(BaseModel):
    received: int
    accepted: int
    duplicates: int  # already stored, or in the batch before (those are listed)
    rejected: list[RejectedItem]
    duplicates_in_batch: list[DuplicateInBatch] = Field(default_factory=list)

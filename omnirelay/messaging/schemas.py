"""The messaging API's payloads: seed 003's behavioural event and decision, the audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from omnirelay.input_types import NUL_REASON, StoredJson, UtcDatetime


def _text(value: Any) -> Any:
    # An id is what the producer wrote: a number is not silently made a string.
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\x00" in value:
        raise ValueError(NUL_REASON)
    return value


def _iso_timestamp(value: Any) -> Any:
    # Seconds since the epoch are ambiguous (seconds? milliseconds?): ISO 8601 only.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string, like 2024-01-15T10:30:00Z")
    return value


def _object_or_null(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


def _no_nul_inside(value: Any) -> Any:
    # Known properties and traits become text columns, and PostgreSQL text holds no NUL.
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        current, path = pending.pop()
        if isinstance(current, str) and "\x00" in current:
            raise ValueError(f"{path.lstrip('.') or 'a value'} {NUL_REASON}")
        if isinstance(current, dict):
            for key, child in current.items():
                if "\x00" in key:
                    raise ValueError(f"a key {NUL_REASON}")
                pending.append((child, f"{path}.{key}"))
        elif isinstance(current, list):
            pending.extend((child, f"{path}[{index}]") for index, child in enumerate(current))
    return value


def _since_1970(value: datetime) -> datetime:
    if value < EPOCH:
        raise ValueError("is before 1970-01-01T00:00:00Z")
    return value


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Text = Annotated[str, BeforeValidator(_text)]
JsonObject = Annotated[
    dict[str, StoredJson] | None,
    BeforeValidator(_object_or_null),
    AfterValidator(_no_nul_inside),
]


class EventIn(BaseModel):
    """A behavioural event, as in seed 003; ``storefront_id`` (a storefront code) and
    ``client_event_id`` are optional additions."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: Annotated[Text, StringConstraints(min_length=1, max_length=255)]
    event_type: Annotated[
        Text,
        # any name a producer uses ("Order Completed" too); control characters are refused
        StringConstraints(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$"),
    ]
    event_timestamp: Annotated[
        UtcDatetime, BeforeValidator(_iso_timestamp), AfterValidator(_since_1970)
    ]
    properties: JsonObject = None
    user_traits: JsonObject = None
    storefront_id: Annotated[Text, StringConstraints(min_length=1, max_length=50)] | None = None
    # The producer's id of the event: posting it again returns the first decision. Without
    # it, the same user, type, timestamp and properties make the same event.
    client_event_id: Annotated[Text, StringConstraints(min_length=1, max_length=90)] | None = None


class DecisionOut(BaseModel):
    """What POST /events answers: seed 003's decision, and the machine-readable reason."""

    event_id: int
    user_id: str
    event_type: str
    matched_rule: str | None
    action_type: str | None
    template_name: str | None
    channel: str | None
    outcome: str  # allow | suppress | none
    reason: str
    reason_code: str


class AuditDecision(BaseModel):
    event_id: int
    storefront_id: int
    event_type: str
    event_timestamp: datetime
    matched_rule: str | None
    action_type: str | None
    template_name: str | None
    channel: str | None
    outcome: str
    reason_code: str
    reason: str
    decision_timestamp: datetime
    scheduled_for: datetime | None = Field(
        description="when held for quiet hours: the time it is sent (UTC)"
    )
    rules_version: str


class AuditOut(BaseModel):
    """A user's decisions, newest first."""

    user_id: str
    decisions: list[AuditDecision]
    total: int
    limit: int
    offset: int


class RulesLoaded(BaseModel):
    version: str
    rules: int
    enabled: int
    source: str

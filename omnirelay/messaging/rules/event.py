"""The event the rules look at (seed 003's payload), and the profile merge."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MessagingEvent(BaseModel):
    """``{user_id, event_type, event_timestamp, properties, user_traits}``, as in seed 003.

    A timestamp without a zone offset is read as UTC."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    event_timestamp: datetime
    properties: dict[str, Any] = Field(default_factory=dict)
    user_traits: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @field_validator("properties", "user_traits", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def with_profile(self, profile: Mapping[str, Any] | None) -> MessagingEvent:
        """This event with the stored profile's traits filling in what it does not say."""
        if not profile:
            return self
        return self.model_copy(update={"user_traits": merge_traits(profile, self.user_traits)})


def merge_traits(
    profile: Mapping[str, Any] | None, event_traits: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The traits to evaluate with: the event's own values, and the stored profile's for
    every trait the event omits or sends as null. Flat, like the traits themselves: a
    trait the event sends (an object too) replaces the profile's whole value."""
    merged = {key: value for key, value in (profile or {}).items() if value is not None}
    merged.update((key, value) for key, value in (event_traits or {}).items() if value is not None)
    return merged

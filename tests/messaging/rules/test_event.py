"""The event payload and the profile merge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from omnirelay.messaging.rules.event import MessagingEvent, merge_traits


def test_the_event_fills_in_from_the_profile_what_it_omits() -> None:
    profile = {"email": "old@example.com", "marketing_opt_in": True, "timezone": "Europe/Berlin"}
    event_traits = {"email": "new@example.com", "timezone": None, "risk_segment": "high"}
    assert merge_traits(profile, event_traits) == {
        "email": "new@example.com",  # the event's own value wins
        "marketing_opt_in": True,  # omitted: the profile's
        "timezone": "Europe/Berlin",  # sent as null: the profile's
        "risk_segment": "high",
    }


def test_merging_with_nothing() -> None:
    assert merge_traits(None, None) == {}
    assert merge_traits({"a": 1}, None) == {"a": 1}
    assert merge_traits(None, {"a": 1}) == {"a": 1}
    assert merge_traits({"a": None}, {}) == {}
    # Traits are flat: an object the event sends replaces the profile's whole.
    assert merge_traits(
        {"address": {"city": "Oslo", "zip": "0150"}}, {"address": {"city": "Bergen"}}
    ) == {"address": {"city": "Bergen"}}


def test_merging_leaves_its_inputs_alone() -> None:
    profile = {"a": 1}
    traits = {"b": 2}
    merge_traits(profile, traits)
    assert profile == {"a": 1} and traits == {"b": 2}


def test_an_event_without_traits_takes_the_profile() -> None:
    event = MessagingEvent.model_validate(
        {
            "user_id": "u1",
            "event_type": "signup_completed",
            "event_timestamp": "2024-01-15T10:30:00Z",
        }
    )
    assert event.user_traits == {} and event.properties == {}
    merged = event.with_profile({"marketing_opt_in": True})
    assert merged.user_traits == {"marketing_opt_in": True}
    assert event.user_traits == {}  # the original is unchanged
    assert event.with_profile(None) is event


def test_event_payload() -> None:
    event = MessagingEvent.model_validate(
        {
            "user_id": "u1",
            "event_type": "payment_failed",
            "event_timestamp": "2024-01-15T10:30:00",
            "properties": None,
            "user_traits": None,
            "extra": "ignored",
        }
    )
    assert event.event_timestamp == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)  # no zone: UTC
    assert event.properties == {} and event.user_traits == {}
    with pytest.raises(ValidationError):
        MessagingEvent.model_validate(
            {"user_id": "", "event_type": "x", "event_timestamp": "2024-01-15"}
        )

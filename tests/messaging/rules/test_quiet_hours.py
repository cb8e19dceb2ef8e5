"""Quiet hours in the user's zone, and their end across daylight-saving changes."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from omnirelay.messaging.rules.quiet_hours import (
    first_instant_at,
    in_quiet_period,
    quiet_period_end,
)
from omnirelay.messaging.rules.schema import QuietHours
from tests.messaging.helpers import ts

NIGHT = QuietHours(start=time(21), end=time(8))
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(20, 59, 59), False),
        (time(21), True),
        (time(23, 59), True),
        (time(0), True),
        (time(7, 59, 59, 999999), True),
        (time(8), False),
        (time(12), False),
    ],
)
def test_a_period_across_midnight(local: time, quiet: bool) -> None:
    assert in_quiet_period(local, NIGHT) is quiet


def test_a_period_within_one_day() -> None:
    lunch = QuietHours(start=time(12), end=time(14))
    assert in_quiet_period(time(12), lunch)
    assert in_quiet_period(time(13, 59), lunch)
    assert not in_quiet_period(time(14), lunch)
    assert not in_quiet_period(time(11, 59), lunch)
    assert quiet_period_end(ts("2024-06-03T12:30:00Z"), lunch, ZoneInfo("UTC")) == ts(
        "2024-06-03T14:00:00Z"
    )


def test_outside_the_period_there_is_no_end() -> None:
    assert quiet_period_end(ts("2024-06-03T12:00:00Z"), NIGHT, NEW_YORK) is None  # 08:00 EDT


@pytest.mark.parametrize(
    ("at", "zone", "end"),
    [
        # New York, spring forward on 2025-03-09 (02:00 EST -> 03:00 EDT).
        ("2025-03-09T02:00:00Z", NEW_YORK, "2025-03-09T12:00:00Z"),  # 21:00 EST the 8th
        ("2025-03-09T06:30:00Z", NEW_YORK, "2025-03-09T12:00:00Z"),  # 01:30 EST: 08:00 EDT
        ("2025-03-09T07:30:00Z", NEW_YORK, "2025-03-09T12:00:00Z"),  # 03:30 EDT
        ("2025-03-08T06:30:00Z", NEW_YORK, "2025-03-08T13:00:00Z"),  # the day before: EST
        # New York, fall back on 2025-11-02 (02:00 EDT -> 01:00 EST).
        ("2025-11-02T02:00:00Z", NEW_YORK, "2025-11-02T13:00:00Z"),  # 22:00 EDT the 1st
        ("2025-11-02T05:30:00Z", NEW_YORK, "2025-11-02T13:00:00Z"),  # 01:30 EDT
        ("2025-11-02T06:30:00Z", NEW_YORK, "2025-11-02T13:00:00Z"),  # 01:30 EST (again)
        ("2025-11-01T06:30:00Z", NEW_YORK, "2025-11-01T12:00:00Z"),  # the day before: EDT
        # Berlin, spring forward on 2025-03-30 (02:00 CET -> 03:00 CEST).
        ("2025-03-29T20:00:00Z", BERLIN, "2025-03-30T06:00:00Z"),  # 21:00 CET
        ("2025-03-30T00:30:00Z", BERLIN, "2025-03-30T06:00:00Z"),  # 01:30 CET
        # Berlin, fall back on 2025-10-26 (03:00 CEST -> 02:00 CET).
        ("2025-10-25T19:00:00Z", BERLIN, "2025-10-26T07:00:00Z"),  # 21:00 CEST
        ("2025-10-26T00:30:00Z", BERLIN, "2025-10-26T07:00:00Z"),  # 02:30 CEST
        ("2025-10-26T01:30:00Z", BERLIN, "2025-10-26T07:00:00Z"),  # 02:30 CET (again)
    ],
)
def test_the_end_is_eight_on_the_local_clock_across_dst(at: str, zone: ZoneInfo, end: str) -> None:
    result = quiet_period_end(ts(at), NIGHT, zone)
    assert result == ts(end)
    assert result is not None and result.astimezone(zone).time() == time(8)


def test_an_end_the_clock_skips_is_the_instant_the_skip_ends() -> None:
    # 02:30 does not exist in New York on 2025-03-09: the clock goes from 01:59:59 EST
    # to 03:00:00 EDT, at 07:00 UTC.
    quiet = QuietHours(start=time(22), end=time(2, 30))
    end = quiet_period_end(ts("2025-03-09T05:00:00Z"), quiet, NEW_YORK)  # 00:00 EST
    assert end == ts("2025-03-09T07:00:00Z")
    assert end is not None and end.astimezone(NEW_YORK).time() == time(3)
    assert first_instant_at(ts("2025-03-09T00:00:00Z").date(), time(2, 30), NEW_YORK) == end


def test_an_end_the_clock_repeats_is_its_first_pass_or_the_second_when_past_the_first() -> None:
    # 01:30 happens twice in New York on 2025-11-02: 05:30 UTC (EDT) and 06:30 UTC (EST).
    quiet = QuietHours(start=time(22), end=time(1, 30))
    assert quiet_period_end(ts("2025-11-02T04:00:00Z"), quiet, NEW_YORK) == ts(
        "2025-11-02T05:30:00Z"
    )
    # 01:10 EST: past the first 01:30, before the second.
    assert quiet_period_end(ts("2025-11-02T06:10:00Z"), quiet, NEW_YORK) == ts(
        "2025-11-02T06:30:00Z"
    )


def test_at_the_end_the_period_is_over_and_at_the_start_it_begins() -> None:
    assert quiet_period_end(ts("2025-03-09T12:00:00Z"), NIGHT, NEW_YORK) is None  # 08:00 EDT
    assert quiet_period_end(ts("2025-03-10T01:00:00Z"), NIGHT, NEW_YORK) == ts(
        "2025-03-10T12:00:00Z"
    )  # 21:00 EDT

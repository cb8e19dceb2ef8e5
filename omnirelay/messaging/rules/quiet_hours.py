"""Quiet hours: is a moment inside the quiet period in the user's zone, and when does it end?

Wall-clock arithmetic is done on dates and times of day in the zone, never by adding hours
to an instant, so the end is right across daylight-saving changes: 08:00 the morning after
a spring-forward night is seven hours of UTC after 00:00, not eight. An end that falls in
the hour a zone skips is the first instant after the skip; one that falls in the hour a
zone repeats is its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from omnirelay.messaging.rules.schema import QuietHours


def in_quiet_period(local: time, quiet: QuietHours) -> bool:
    """Whether a wall-clock time is inside ``[start, end)`` (spanning midnight when the
    start is later than the end)."""
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def quiet_period_end(at: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """The UTC instant the quiet period holding ``at`` ends, or None when ``at`` (in
    ``zone``) is outside it."""
    local = at.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_period(wall, quiet):
        return None
    end_date = local.date()
    if quiet.start > quiet.end and wall >= quiet.start:
        end_date += timedelta(days=1)
    end = first_instant_at(end_date, quiet.end, zone)
    if end <= at:
        # ``at`` is in the second pass through a repeated hour and the first pass of the
        # end time is behind it: the period ends at the second pass.
        end = datetime.combine(end_date, quiet.end, zone).replace(fold=1).astimezone(UTC)
    return end


def first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose wall-clock time in ``zone`` on ``day`` is ``wall`` or, when
    the zone skips that time, the instant the skip ends."""
    naive = datetime.combine(day, wall)
    earlier = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if earlier.astimezone(zone).replace(tzinfo=None) == naive:
        return earlier
    # Skipped: fold=0 reads it with the offset before the skip (an instant after it),
    # fold=1 with the offset after (an instant before it). The skip lies between; zones
    # change offsets on whole seconds, so halving to the second finds it.
    low = int(naive.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(earlier.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) < naive:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)

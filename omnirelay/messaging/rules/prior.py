"""Where prior-event conditions get their facts: a protocol the caller provides.

The evaluator does no I/O. A caller asks the loaded rule set which event types its rules
may look up for an event (``RuleSet.prior_event_types(event_type)``), fetches the latest
of each for the user in one query, and hands them over as ``PrefetchedPriorEvents``. Tests
and benchmarks use ``InMemoryPriorEvents``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class PriorEvents(Protocol):
    def latest(self, user_id: str, event_type: str, before: datetime) -> datetime | None:
        """The timestamp of the user's most recent event of ``event_type`` strictly before
        ``before`` (the event being evaluated, which itself never counts), or None."""
        ...


class PrefetchedPriorEvents:
    """The latest timestamp per event type of one user, fetched before evaluating one of
    their events. A type that is not in the mapping has no prior event."""

    __slots__ = ("_latest", "user_id")

    def __init__(self, user_id: str, latest: Mapping[str, datetime | None]) -> None:
        self.user_id = user_id
        self._latest = dict(latest)

    def latest(self, user_id: str, event_type: str, before: datetime) -> datetime | None:
        if user_id != self.user_id:
            raise ValueError(f"prefetched for user {self.user_id!r}, asked about {user_id!r}")
        found = self._latest.get(event_type)
        return found if found is not None and found < before else None


class InMemoryPriorEvents:
    """Every event's timestamp by user and type, kept sorted: a fake of the event table."""

    def __init__(self) -> None:
        self._times: dict[tuple[str, str], list[datetime]] = defaultdict(list)

    def add(self, user_id: str, event_type: str, at: datetime) -> None:
        bisect.insort(self._times[(user_id, event_type)], at)

    def latest(self, user_id: str, event_type: str, before: datetime) -> datetime | None:
        times = self._times.get((user_id, event_type))
        if not times:
            return None
        position = bisect.bisect_left(times, before)
        return times[position - 1] if position else None

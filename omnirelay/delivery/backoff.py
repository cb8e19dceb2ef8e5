"""When to try again: seed 001's schedule with jitter, or the platform's own Retry-After."""

from __future__ import annotations

import random

MAX_DELAY_SECONDS = 24 * 3600.0
JITTER = 0.2  # +/- 20 %: spreads retries of a failed batch so they do not arrive together


def retry_delay(
    failed_attempts: int,
    base_seconds: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``failed_attempts``-th failure.

    Attempt 1 is immediate; after failure N the wait is ``base * 2^(N-1)`` (attempt 2
    after ``base``, attempt 3 after ``2 * base``, ...), jittered by +/-20 %. A
    ``Retry-After`` from the platform wins: it says when the platform will accept again.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), MAX_DELAY_SECONDS)
    delay = base_seconds * 2 ** max(0, failed_attempts - 1)
    spread = (rng or random).uniform(-JITTER, JITTER)
    return min(delay * (1 + spread), MAX_DELAY_SECONDS)

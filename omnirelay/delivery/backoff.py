"""When to try again: seed 001's schedule with jitter, or the platform's own Retry-After."""

from __future__ import annotations

import random

MAX_DELAY_SECONDS = 24 * 3600.0
# +/- 20 %: spreads the retries of different requests (and workers) over time; the
# deliveries of one failed request share one draw, so they go out again as one batch.
JITTER = 0.2


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

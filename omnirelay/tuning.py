"""Interpreter settings for long-running service processes, applied once set-up is done."""

from __future__ import annotations

import gc
import sys


def tune_collector() -> None:
    """Objects that live as long as the process leave the collector's scans, and young
    collections run less often: delivery allocates many short-lived dicts per batch, and
    with the default thresholds the collector took a seventh of the worker's time (and
    as much as the hashing itself in a preparing process)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def tune_for_throughput() -> None:
    """For ``serve`` and ``worker``: the collector as above, and the GIL handed over every
    0.5 ms instead of 5 ms, so the database threads (SQLite's writer, aiosqlite's) are not
    kept waiting while the event loop works on the next batch."""
    tune_collector()
    sys.setswitchinterval(0.0005)

"""Bulk taxonomy validation: names/s over 100,000 generated campaign names (four in five
valid; the others broken the ways names break: lower case, a short year, a stray
character, a missing field), beside the floor: the same taxonomy pattern as one plain
compiled regular expression matched over the same names, which says valid or not and
nothing more. The engine also says, for each invalid name, every field that breaks it.

Run alone: ``python -m bench.taxonomy``; BENCH_SCALE scales the number of names.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from pathlib import Path

from bench.common import scaled
from omnirelay.trafficking.taxonomy import Taxonomy, load_spec

BRANDS = ("DIS", "NIKE", "ACME_CO", "P_G", "UNILEVER")
MARKETS = ("US", "GB", "DE", "FR", "JP", "LATAM")
CHANNELS = ("META", "TIKTOK", "SNAPCHAT", "PINTEREST", "GOOGLE", "MULTI")


def names(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        name = (
            f"{rng.choice(BRANDS)}_{rng.choice(MARKETS)}_{rng.choice(CHANNELS)}_"
            f"{rng.choice((2025, 2026, 2027))}_Campaign{i}Launch"
        )
        broken = rng.random()
        if broken < 0.05:
            name = name.lower()
        elif broken < 0.10:
            name = name.replace("_202", "_2", 1)
        elif broken < 0.15:
            name += "-v2"
        elif broken < 0.20:
            name = name.split("_", 1)[1]
        made.append(name)
    return made


def measure(runs: int = 3) -> tuple[float, float, int, int]:
    """names/s of the engine and of the floor (medians of ``runs``), valid and invalid."""
    taxonomy = Taxonomy(load_spec(Path("config/taxonomy.yaml")))
    floor = re.compile(
        taxonomy.spec.delimiter.join(f"(?:{f.pattern()})" for f in taxonomy.spec.fields)
    )
    batch = names(scaled(100_000))
    engine_rates, floor_rates = [], []
    invalid = 0
    for _ in range(runs):
        started = time.perf_counter()
        matched = sum(1 for name in batch if floor.fullmatch(name) is not None)
        floor_rates.append(len(batch) / (time.perf_counter() - started))
        started = time.perf_counter()
        invalid = len(taxonomy.validate_many(batch))
        engine_rates.append(len(batch) / (time.perf_counter() - started))
        assert matched == len(batch) - invalid
    return statistics.median(engine_rates), statistics.median(floor_rates), len(batch), invalid


def main() -> None:
    engine, floor, count, invalid = measure()
    print(f"\nTaxonomy bulk validation ({count:,} names, {invalid:,} invalid; median of 3 runs)")
    print(f"  {'engine: every violation of every invalid name':<52} {engine:>10,.0f} names/s")
    print(f"  {'floor: one plain compiled regex, valid or not':<52} {floor:>10,.0f} names/s")
    print(f"  {'engine / floor':<52} {engine / floor:>10.2f}x   (target >= 0.33)")


if __name__ == "__main__":
    main()

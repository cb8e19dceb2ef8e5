"""`make bench`: every benchmark, each printing its figures as ratios against a floor
measured in the same run. BENCH_SCALE=0.2 runs a quick, smaller pass."""

from __future__ import annotations

import asyncio

from bench import delivery, ingest, messaging_api, messaging_rules


async def main() -> None:
    messaging_rules.main()
    await messaging_api.main()
    await ingest.main()
    await delivery.main()


if __name__ == "__main__":
    asyncio.run(main())

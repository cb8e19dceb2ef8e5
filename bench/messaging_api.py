"""Messaging decisions over HTTP: seed-shaped events posted one by one to POST /events
(stored, decided against 20 rules with prior-event checks read from the database, recorded,
claimed) beside the same events posted to a bare authenticated endpoint of the same app
that only stores the event row, in the same run and server.

Run alone: ``python -m bench.messaging_api``; BENCH_SCALE scales the number of events.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    AUTH,
    free_port,
    fresh_database,
    process,
    rate,
    report,
    scaled,
    service_env,
    wait_until_up,
)
from bench.messaging_rules import PRIOR_TYPES, RULES, START, rules_text
from bench.messaging_server import BARE_PATH

SENDERS = 8
USERS = 300


def rules_files(folder: Path) -> Path:
    rules = folder / "rules.yaml"
    rules.write_text(rules_text())
    templates = folder / "templates"
    templates.mkdir()
    for i in range(RULES):
        (templates / f"T{i}.j2").write_text("Subject: hello\n\nhello")
    return rules


def events(count: int, seed: int, event_type: str | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "user_id": f"u{rng.randrange(USERS)}",
            "event_type": event_type or "payment_failed",
            "event_timestamp": (START + timedelta(seconds=seed * 100_000 + n)).isoformat(),
            "properties": {
                "amount": round(rng.uniform(0, 500), 2),
                "failure_reason": f"REASON_{rng.randrange(7)}",
                "card": {"brand": rng.choice(["visa", "mastercard", "amex", "discover"])},
            },
            "user_traits": {
                "country": rng.choice(["US", "CA", "GB", "DE", "FR", "NO", "JP"]),
                "email": f"user{rng.randrange(10_000)}@example.com",
                "marketing_opt_in": rng.random() < 0.8,
            },
            "storefront_id": "bench",
        }
        for n in range(count)
    ]


def prior_events(seed: int) -> list[dict[str, Any]]:
    """A few earlier events of each user, of the types the rules look up."""
    rng = random.Random(seed)
    return [
        {
            "user_id": f"u{user}",
            "event_type": event_type,
            "event_timestamp": (START - timedelta(minutes=rng.randint(1, 4000))).isoformat(),
            "properties": {},
            "storefront_id": "bench",
        }
        for user in range(USERS)
        for event_type in PRIOR_TYPES
        if rng.random() < 0.7
    ]


async def post_all(client: httpx.AsyncClient, path: str, work: list[dict[str, Any]]) -> float:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    outcomes: Counter[str] = Counter()

    async def sender() -> None:
        while not queue.empty():
            response = await client.post(path, json=queue.get_nowait())
            response.raise_for_status()
            outcomes[response.json().get("reason_code", "stored")] += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return time.perf_counter() - started


async def run_one(kind: str, count: int, rules: Path, seed: int) -> tuple[float, float]:
    async with fresh_database(kind) as database:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = service_env(database.url, RULES_FILE=str(rules), LOG_LEVEL="ERROR")
        with process(["bench.messaging_server", "--port", str(port)], env):
            await wait_until_up(f"{base}/health")
            limits = httpx.Limits(max_connections=SENDERS)
            async with httpx.AsyncClient(
                base_url=base, auth=AUTH, timeout=120, limits=limits
            ) as client:
                response = await client.post(
                    "/admin/v1/storefronts", json={"storefront_id": "bench", "name": "Bench"}
                )
                response.raise_for_status()
                await post_all(client, BARE_PATH, prior_events(seed))  # not measured
                await post_all(client, "/events", events(20, seed + 1))  # warm-up
                bare = await post_all(client, BARE_PATH, events(count, seed + 2))
                decided = await post_all(client, "/events", events(count, seed + 3))
    return rate(count, decided), rate(count, bare)


async def main(rounds: int = 3) -> None:
    """The median of ``rounds`` runs per database, each on a fresh one."""
    count = scaled(2_000)
    with tempfile.TemporaryDirectory() as folder:
        rules = rules_files(Path(folder))
        for kind in ("sqlite", "postgresql"):
            runs = [await run_one(kind, count, rules, 10 * n) for n in range(rounds)]
            decided = statistics.median(d for d, _ in runs)
            bare = statistics.median(b for _, b in runs)
            report(
                f"messaging on {kind}: {count:,} events posted one per request ({SENDERS} "
                f"concurrent HTTP senders), {RULES} rules with prior-event checks, median of "
                f"{rounds} runs",
                [
                    ("POST /events (store, decide, record, claim, commit)", decided),
                    ("bare authenticated endpoint (store the row, commit)", bare),
                ],
                "decisions / bare",
                decided / bare,
                ">= 0.5",
            )
            each = ", ".join(f"{d:,.0f}/{b:,.0f}" for d, b in runs)
            print(f"  {'each run (decisions/bare per s)':<52} {each}")


if __name__ == "__main__":
    asyncio.run(main())

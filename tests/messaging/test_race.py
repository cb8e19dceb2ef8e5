"""Identical sends decided at the same moment in several processes, each with its own
engine: the database lets exactly one through (once ever, once per UTC day) or exactly as
many as the cap allows; the others are suppressed with the claim's reason code."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from omnirelay.db import create_engine, create_sessionmaker, run_transaction, session_scope
from omnirelay.models import MessageDecision, MessageSuppression, Storefront

PROCESSES = 4
RULES = """\
settings:
  marketing_cap: {count: 2, window: 24h}
rules:
  - name: welcome
    trigger: {event_type: signup_completed}
    action: {type: send, template_name: A, delivery_method: email}
    suppression: {mode: once_ever}
  - name: daily
    trigger: {event_type: payment_failed}
    action: {type: send, template_name: B, delivery_method: email}
    suppression: {mode: once_per_calendar_day}
  - name: nudge
    trigger: {event_type: nudge}
    action: {type: send, template_name: C, delivery_method: email}
"""
# (user, event type): every process posts its own event of that type for that user
CASES = [("u_once", "signup_completed"), ("u_day", "payment_failed"), ("u_cap", "nudge")]


def _contender(database_url: str, rules_file: str, number: int, barrier: Any, results: Any) -> None:
    asyncio.run(_contend(database_url, rules_file, number, barrier, results))


async def _contend(
    database_url: str, rules_file: str, number: int, barrier: Any, results: Any
) -> None:
    from omnirelay.messaging import sending
    from omnirelay.messaging.ingest import post_event
    from omnirelay.messaging.rules import load_rules, template_names
    from omnirelay.messaging.schemas import EventIn
    from omnirelay.models.base import utcnow
    from omnirelay.security import SCOPES, Principal

    sends: list[str] = []

    def enqueue(session: Any, send: Any) -> None:
        sends.append(send.user_id)

    written = sending.insert_decision_with_send  # PostgreSQL: the decision and its send

    def decision_with_send(session: Any, decision: Any, send: Any) -> int:
        sends.append(send.user_id)
        return written(session, decision, send)

    sending.enqueue_send = enqueue  # type: ignore[assignment]
    sending.insert_decision_with_send = decision_with_send  # type: ignore[assignment]
    rules = load_rules(rules_file, template_names(Path(rules_file).parent))
    admin = Principal("admin", None, frozenset(SCOPES))
    engine = create_engine(database_url)
    factory = create_sessionmaker(engine)
    async with engine.connect() as connection:  # connected before the start line
        await connection.execute(text("SELECT 1"))
    try:
        for user, event_type in CASES:
            body = {
                "user_id": user,
                "event_type": event_type,
                "event_timestamp": f"2024-01-15T10:00:0{number}Z",
                "properties": {"n": number},
                "user_traits": {"marketing_opt_in": True},
                "storefront_id": "shop",
            }
            await asyncio.to_thread(barrier.wait)
            event = EventIn.model_validate(body)
            answer, _ = await run_transaction(
                factory,
                functools.partial(
                    post_event,
                    rules=rules,
                    event=event,
                    raw=b"{}",
                    principal=admin,
                    default_storefront=None,
                    now=utcnow(),
                ),
            )
            results.put((number, user, answer.outcome, answer.reason_code, len(sends)))
    finally:
        await engine.dispose()


async def test_simultaneous_identical_sends_give_one_send_and_the_rest_suppressed(
    db_url: str, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    for name in "ABC":
        (tmp_path / f"{name}.j2").write_text("hello")
    engine = create_engine(db_url)
    async with session_scope(create_sessionmaker(engine)) as session:
        session.add(Storefront(code="shop", name="Shop"))

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_contender, args=(db_url, str(rules_file), number, barrier, results))
        for number in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    answers = [await asyncio.to_thread(results.get, True, 120) for _ in CASES for _ in processes]
    for process in processes:
        await asyncio.to_thread(process.join, 60)
        assert process.exitcode == 0

    by_user = {user: Counter((o, c) for _, u, o, c, _ in answers if u == user) for user, _ in CASES}
    assert by_user["u_once"] == {("allow", "sent"): 1, ("suppress", "suppressed_once_ever"): 3}
    assert by_user["u_day"] == {("allow", "sent"): 1, ("suppress", "suppressed_calendar_day"): 3}
    assert by_user["u_cap"] == {("allow", "sent"): 2, ("suppress", "frequency_capped"): 2}
    async with session_scope(create_sessionmaker(engine), read_only=True) as session:
        allowed = dict(
            (
                await session.execute(
                    select(MessageDecision.user_id, func.count())
                    .where(MessageDecision.outcome == "allow")
                    .group_by(MessageDecision.user_id)
                )
            ).all()
        )
        claims = (
            await session.execute(select(func.count()).select_from(MessageSuppression))
        ).scalar()
    await engine.dispose()
    assert allowed == {"u_once": 1, "u_day": 1, "u_cap": 2}
    assert claims == 2
    # each process enqueued a send exactly when it was told "allow"
    for number in range(PROCESSES):
        told = sum(1 for n, _, outcome, _, _ in answers if n == number and outcome == "allow")
        assert max(count for n, *_, count in answers if n == number) == told

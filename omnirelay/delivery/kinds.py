"""Kinds of work the engine carries: a relay send, a message send, a campaign deploy.

The engine claims, sends, retries and records every kind the same way; a kind says only
what is its own: what a batch of its deliveries needs (``plan``), the requests to send
(``prepare``, pure), which transport sends them, what an answer means (``classify``), and
what to settle when its deliveries have an outcome (``settle``, in the recording
transaction). Domains register their kinds when the worker is put together
(``omnirelay.pipeline``); this package imports none of them.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.recording import BatchRecord
from omnirelay.delivery.transports import Transport
from omnirelay.destinations.base import DeliveryOutcome, HttpResult, Prepared, PreparedRequest

ReadSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class Item(Protocol):
    """One delivery's part of a batch (an outbound event, a message, a campaign)."""

    @property
    def delivery_id(self) -> int: ...


@dataclass(frozen=True)
class WorkBatch:
    """Deliveries bound for one target, prepared and sent together. ``secrets`` are the
    target's credential values, scrubbed from every error recorded for the batch."""

    code: str  # the sender: a destination code, a provider, an ad platform
    items: Sequence[Item]
    secrets: Sequence[str] = ()

    def with_items(self, items: Sequence[Item]) -> Self:
        return dataclasses.replace(self, items=items)


@dataclass
class Plan:
    """What a kind made of its claimed deliveries: batches to send, and the deliveries
    decided without a request (``outcome``: retry, permanent or skipped; with a reason)."""

    batches: list[WorkBatch] = field(default_factory=list)
    decided: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    context: Any = None  # handed back to ``settle``


class DeliveryKind(ABC):
    """A registered kind of work. Subclasses set ``name`` (the ``kind`` column's value)."""

    name: ClassVar[str]

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def start(self) -> None:
        """Start what the kind keeps running (a pool of preparing processes)."""
        return None

    def close(self) -> None:
        """Stop what ``start`` started."""
        return None

    @abstractmethod
    async def plan(self, deliveries: list[ClaimedDelivery], hint: Any, read: ReadSession) -> Plan:
        """Read what the deliveries need (``read`` opens a read-only session; ``hint`` is
        what the routing pass that created them has read already, or None) and group
        them into batches."""

    @abstractmethod
    async def prepare(self, batch: Any) -> Prepared:
        """The requests for a batch, and the items refused before sending."""

    @abstractmethod
    def classify(
        self, batch: Any, request: PreparedRequest, result: HttpResult
    ) -> list[DeliveryOutcome]:
        """Each delivery's outcome from the answer to its request."""

    def settle(
        self,
        session: Session,
        record: BatchRecord,
        deliveries: list[ClaimedDelivery],
        context: Any,
    ) -> None:
        """Statements that follow from the outcomes (``record.state``: each delivery's new
        status), run in the transaction that records them. Must be safe to run again."""
        return None


class Registry(Mapping[str, DeliveryKind]):
    """The kinds a worker works, by name."""

    def __init__(self, kinds: Iterable[DeliveryKind]) -> None:
        self._kinds = {kind.name: kind for kind in kinds}

    def __getitem__(self, name: str) -> DeliveryKind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def only(self, names: Iterable[str] | None) -> Registry:
        """The kinds named (all when None); an unknown name is an error naming the known."""
        if names is None:
            return self
        wanted = [name.strip() for name in names if name.strip()]
        unknown = [name for name in wanted if name not in self._kinds]
        if unknown:
            known = ", ".join(sorted(self._kinds))
            raise ValueError(f"unknown kind {unknown[0]!r}; known kinds: {known}")
        return Registry(self._kinds[name] for name in wanted)

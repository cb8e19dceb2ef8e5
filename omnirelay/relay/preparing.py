"""Preparing requests away from the event loop.

``Destination.prepare`` is pure CPU: normalizing and hashing customer data, building and
serializing the body, about 20 µs per event for Meta. Done on the event loop it holds the
interpreter for 20 ms per batch of a thousand, while the API (in ``serve``) and the
worker's own transactions wait. With ``WORKER_PREPARE_PROCESSES`` > 0 a pool of processes
prepares instead: events go there with their payload as JSON, requests come back with
their body already serialized (the exact bytes to send, sign and audit). With 0 preparing
runs inline.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from omnirelay.destinations import get_destination
from omnirelay.destinations.base import Destination, DestinationTarget, OutboundEvent, Prepared
from omnirelay.tuning import tune_collector

log = logging.getLogger("omnirelay.worker")


def prepare_serialized(
    code: str, events: Sequence[OutboundEvent], target: DestinationTarget
) -> Prepared:
    """What a preparing process runs: ``prepare``, then each body as bytes."""
    module = get_destination(code)
    if module is None:
        raise LookupError(f"no destination {code!r}")
    prepared = module.prepare(events, target)
    prepared.requests = [request.serialized() for request in prepared.requests]
    return prepared


def _ready() -> bool:
    return True


def _start_preparing_process(worker_pid: int) -> None:
    tune_collector()
    threading.Thread(
        target=_exit_with_worker, args=(worker_pid,), name="worker-watch", daemon=True
    ).start()


def _exit_with_worker(worker_pid: int) -> None:
    """A worker that is killed (SIGKILL, out of memory) cannot shut its pool down, and the
    pool's processes would wait for work forever: they leave when it is gone."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(worker_pid, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user
            os._exit(0)


class Preparer:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: children do not inherit the parent's threads (SQLite's writer,
            # the drivers'); they fork from a server that has the destinations imported.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["omnirelay.destinations"])
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=context,
                initializer=_start_preparing_process,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def start(self) -> None:
        """Start the processes now (they take a moment), not on the first batch."""
        if not self.processes:
            return
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            await asyncio.gather(
                *(loop.run_in_executor(pool, _ready) for _ in range(self.processes))
            )
        except BrokenProcessPool:
            # e.g. a script without an ``if __name__ == "__main__"`` guard, which every
            # new process runs again: deliver anyway, preparing inline.
            log.error("preparing processes could not start; preparing inline")
            self.close()
            self.processes = 0

    async def prepare(
        self,
        code: str,
        module: Destination,
        events: Sequence[OutboundEvent],
        target: DestinationTarget,
    ) -> Prepared:
        if not self.processes:
            return module.prepare(events, target)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor(), prepare_serialized, code, events, target
            )
        except BrokenProcessPool:
            # A preparing process died (killed, out of memory): start a new pool for the
            # next batch, and prepare this one here rather than lose it.
            log.warning("a preparing process died; starting new ones")
            self.close()
            return module.prepare(events, target)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

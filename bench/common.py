"""Shared benchmark plumbing: databases, server processes, timing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from alembic import command
from cryptography.fernet import Fernet

from omnirelay.migrations import alembic_config

PYTHON = sys.executable
POSTGRES_ADMIN = os.environ.get(
    "OMNIRELAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
KEY = Fernet.generate_key().decode()
AUTH = ("bench", "bench-password")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": KEY,
            "BASIC_AUTH_USERNAME": AUTH[0],
            "BASIC_AUTH_PASSWORD": AUTH[1],
            "OMNIRELAY_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "OUTBOUND_ALLOW": "127.0.0.1",  # the sandbox server
        }
        | extra
    )


@dataclass
class Database:
    name: str  # "sqlite" | "postgresql"
    url: str


@contextlib.asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[Database]:
    """A new, migrated database of the given kind, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
            yield Database(kind, url)
        return
    name = f"omnirelay_bench_{os.getpid()}"
    admin = await asyncpg.connect(POSTGRES_ADMIN.replace("postgresql://", "postgres://"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        yield Database(kind, url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([PYTHON, "-m", *args], env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def sandbox_server() -> Iterator[str]:
    port = free_port()
    with process(["omnirelay.cli", "sandbox", "--port", str(port)]):
        yield f"http://127.0.0.1:{port}"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def report(
    title: str, rows: list[tuple[str, float]], ratio_label: str, ratio: float, target: str
) -> None:
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<52} {value:>10,.0f} events/s")
    print(f"  {ratio_label:<52} {ratio:>10.2f}x   (target {target})")

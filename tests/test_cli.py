"""The `omnirelay` command, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from omnirelay.models import DeliveryAttempt, PlatformCredential
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.security import Vault
from tests.conftest import TEST_KEY
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    customer_event,
    deliveries,
    post_events,
)


def omnirelay(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"OMNIRELAY_ENV": "test", "LOG_LEVEL": "WARNING"} | env
    return subprocess.run(
        [sys.executable, "-m", "omnirelay.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keygen_prints_a_fernet_key() -> None:
    result = omnirelay("keygen")
    assert result.returncode == 0
    Fernet(result.stdout.strip().encode())  # raises if it is not a key


def test_db_upgrade_builds_a_fresh_sqlite_file_with_no_configuration(tmp_path: Path) -> None:
    result = omnirelay("db", "upgrade", OMNIRELAY_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "omnirelay.db").exists()
    assert (tmp_path / "local-secrets.json").exists()


def test_production_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ENCRYPTION_KEY", "BASIC_AUTH_PASSWORD")
    }
    result = subprocess.run(
        [sys.executable, "-m", "omnirelay.cli", "db", "upgrade"],
        env=env | {"OMNIRELAY_ENV": "production", "OMNIRELAY_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ENCRYPTION_KEY" in result.stderr


async def test_replay_command_requeues_dead_deliveries(
    client, sessionmaker, worker, settings
) -> None:
    worker.settings.max_retry_attempts = 1
    await add_storefront(client)
    await add_platform(client, "meta")
    SANDBOX.faults["meta"] = FaultConfig(kind="500")
    await post_events(client, [customer_event(1)])
    await worker.drain()
    [dead] = await deliveries(sessionmaker)
    assert dead.status == "dead"
    result = omnirelay(
        "replay",
        "--storefront",
        "bosley",
        "--destination",
        "meta",
        DATABASE_URL=settings.database_url,
        ENCRYPTION_KEY=TEST_KEY,
        BASIC_AUTH_USERNAME="admin",
        BASIC_AUTH_PASSWORD="x",
    )
    assert result.returncode == 0, result.stderr
    assert "replayed 1 deliveries" in result.stdout
    [replayed] = await deliveries(sessionmaker)
    # a fresh budget, and the attempt numbering goes on (the audit never repeats a number)
    assert (replayed.status, replayed.attempt_count, replayed.attempt_base) == ("pending", 1, 1)
    SANDBOX.faults.clear()
    await worker.drain()
    [delivered] = await deliveries(sessionmaker)
    assert (delivered.status, delivered.attempt_count) == ("delivered", 2)
    async with sessionmaker() as session:
        numbers = (
            await session.execute(
                select(DeliveryAttempt.status, DeliveryAttempt.attempt_number).order_by(
                    DeliveryAttempt.id
                )
            )
        ).all()
    assert [tuple(row) for row in numbers] == [("retry", 1), ("replayed", 1), ("delivered", 2)]


def test_replay_refuses_ids_beyond_64_bits_naming_the_option(settings) -> None:
    result = omnirelay(
        "replay",
        "--delivery-id",
        "1",
        "--delivery-id",
        str(2**63),
        DATABASE_URL=settings.database_url,
        ENCRYPTION_KEY=TEST_KEY,
        BASIC_AUTH_USERNAME="admin",
        BASIC_AUTH_PASSWORD="x",
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "delivery_ids.1" in result.stderr and "Traceback" not in result.stderr


async def test_rotate_keys_reencrypts_under_the_first_key(client, sessionmaker, settings) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    new_key = Fernet.generate_key().decode()
    result = omnirelay(
        "rotate-keys",
        DATABASE_URL=settings.database_url,
        ENCRYPTION_KEY=f"{new_key},{TEST_KEY}",
        BASIC_AUTH_USERNAME="admin",
        BASIC_AUTH_PASSWORD="x",
    )
    assert result.returncode == 0, result.stderr
    async with sessionmaker() as session:
        [token] = (
            await session.execute(select(PlatformCredential.credentials_encrypted))
        ).scalars()
        await session.execute(text("SELECT 1"))
    assert Vault([new_key]).decrypt(token)["pixel_id"] == "1234567890"

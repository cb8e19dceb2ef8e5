"""Settings, database URLs, local secrets and the vault's keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from omnirelay.config import Settings, ensure_local_secrets
from omnirelay.db import normalize_database_url
from omnirelay.errors import ConfigurationError
from omnirelay.security import Vault, VaultError

CONFIG_VARIABLES = (
    "DATABASE_URL",
    "ENCRYPTION_KEY",
    "BASIC_AUTH_USERNAME",
    "BASIC_AUTH_PASSWORD",
    "OMNIRELAY_ENV",
    "OMNIRELAY_DATA_DIR",
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No configuration from the environment or a .env file of the working directory."""
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def bare_settings(data_dir: Path, **values: Any) -> Settings:
    return Settings(omnirelay_data_dir=data_dir, _env_file=None, **values)


# ---- database URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x", "sqlite+aiosqlite:///x"),
        ("sqlite:////var/lib/omnirelay.db", "sqlite+aiosqlite:////var/lib/omnirelay.db"),
        ("postgresql://u:p@db:5432/relay", "postgresql+asyncpg://u:p@db:5432/relay"),
        ("postgres://u:p@db/relay", "postgresql+asyncpg://u:p@db/relay"),
        ("mysql://u:p@db:3306/relay", "mysql+asyncmy://u:p@db:3306/relay"),
        ("mariadb://u:p@db/relay", "mysql+asyncmy://u:p@db/relay"),
        # already async: kept as given
        ("sqlite+aiosqlite:///x", "sqlite+aiosqlite:///x"),
        ("postgresql+asyncpg://u@db/relay", "postgresql+asyncpg://u@db/relay"),
        ("mysql+asyncmy://u@db/relay", "mysql+asyncmy://u@db/relay"),
    ],
)
def test_normalize_database_url_maps_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize(
    "url", ["oracle://u@db/relay", "mongodb://db/relay", "redis://localhost", "not a url"]
)
def test_normalize_database_url_rejects_unknown_schemes(url: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        normalize_database_url(url)
    assert "DATABASE_URL" in str(error.value.detail)


def test_default_database_is_a_sqlite_file_in_the_data_dir(
    clean_environment: None, tmp_path: Path
) -> None:
    settings = bare_settings(tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'omnirelay.db'}"


# ---- local secrets -----------------------------------------------------------------------


def test_local_secrets_are_created_once_and_reused(clean_environment: None, tmp_path: Path) -> None:
    first = bare_settings(tmp_path)
    path = ensure_local_secrets(first)
    assert path == tmp_path / "local-secrets.json"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert first.encryption_key is not None and first.basic_auth_password is not None
    assert first.encryption_key.get_secret_value() == stored["ENCRYPTION_KEY"]
    assert first.basic_auth_username == stored["BASIC_AUTH_USERNAME"]
    assert first.basic_auth_password.get_secret_value() == stored["BASIC_AUTH_PASSWORD"]
    Vault(first.encryption_keys())  # a usable key
    content = path.read_bytes()

    second = bare_settings(tmp_path)
    assert ensure_local_secrets(second) == path
    assert path.read_bytes() == content  # not rewritten
    assert second.encryption_key is not None and second.basic_auth_password is not None
    assert second.encryption_key.get_secret_value() == first.encryption_key.get_secret_value()
    assert second.basic_auth_username == first.basic_auth_username
    assert (
        second.basic_auth_password.get_secret_value()
        == first.basic_auth_password.get_secret_value()
    )
    token = Vault(first.encryption_keys()).encrypt({"a": 1})
    assert Vault(second.encryption_keys()).decrypt(token) == {"a": 1}


def test_configured_values_win_over_the_local_file(clean_environment: None, tmp_path: Path) -> None:
    ensure_local_secrets(bare_settings(tmp_path))
    key = Fernet.generate_key().decode()
    settings = bare_settings(
        tmp_path, encryption_key=key, basic_auth_username="ops", basic_auth_password="pw"
    )
    assert ensure_local_secrets(settings) is None
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == key
    assert settings.basic_auth_username == "ops"


def test_production_without_secrets_is_a_configuration_error(
    clean_environment: None, tmp_path: Path
) -> None:
    settings = bare_settings(tmp_path, omnirelay_env="production")
    with pytest.raises(ConfigurationError) as error:
        ensure_local_secrets(settings)
    assert "ENCRYPTION_KEY" in str(error.value.detail)
    assert not (tmp_path / "local-secrets.json").exists()


def test_settings_read_the_environment(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    other = Fernet.generate_key().decode()
    monkeypatch.setenv("ENCRYPTION_KEY", f" {key} , {other} ")
    monkeypatch.setenv("BASIC_AUTH_USERNAME", "ops")
    monkeypatch.setenv("BASIC_AUTH_PASSWORD", "secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/relay")
    settings = bare_settings(tmp_path)
    assert settings.encryption_keys() == [key, other]
    assert settings.basic_auth_username == "ops"
    assert settings.database_url == "postgresql://u@db/relay"
    assert ensure_local_secrets(settings) is None


# ---- the vault ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [["not-a-fernet-key"], ["c2hvcnQ="], []])
def test_a_bad_encryption_key_is_a_configuration_error(keys: list[str]) -> None:
    with pytest.raises(ConfigurationError) as error:
        Vault(keys)
    assert "ENCRYPTION_KEY" in str(error.value.detail)
    for key in keys:
        assert key not in str(error.value.detail)


def test_multifernet_decrypts_with_old_keys_and_rotates_to_the_new_one() -> None:
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    old = Vault([old_key])
    both = Vault([new_key, old_key])
    new = Vault([new_key])

    token = old.encrypt({"access_token": "s3cret"})
    assert "s3cret" not in token
    assert both.decrypt(token) == {"access_token": "s3cret"}
    with pytest.raises(VaultError) as error:
        new.decrypt(token)
    assert token not in str(error.value.detail)

    rotated = both.rotate(token)
    assert rotated != token
    assert new.decrypt(rotated) == {"access_token": "s3cret"}
    with pytest.raises(VaultError):
        old.decrypt(rotated)
    # the first key encrypts
    assert new.decrypt(both.encrypt("x")) == "x"
    with pytest.raises(VaultError):
        new.rotate(token)


def test_event_time_future_tolerance_is_read_from_the_environment(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert bare_settings(tmp_path).event_time_future_tolerance_seconds == 300
    monkeypatch.setenv("EVENT_TIME_FUTURE_TOLERANCE_SECONDS", "30")
    assert bare_settings(tmp_path).event_time_future_tolerance_seconds == 30
    monkeypatch.setenv("EVENT_TIME_FUTURE_TOLERANCE_SECONDS", "-1")
    with pytest.raises(ValueError, match="event_time_future_tolerance_seconds"):
        bare_settings(tmp_path)

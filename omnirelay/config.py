"""One Settings object, read once from the environment and an optional ``.env`` file.

Variable names follow the seed's table (DATABASE_URL, BASIC_AUTH_USERNAME, ...). In a
development setting with nothing configured, a local key file and local admin credentials are
created once under OMNIRELAY_DATA_DIR and reused; in production the real values are required.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnirelay.errors import ConfigurationError
from omnirelay.netguard import parse_allow

DEFAULT_DATA_DIR = Path(".omnirelay")
# Clocks drift: an OMS a little ahead of omnirelay is not sending events from the future.
DEFAULT_FUTURE_TOLERANCE_SECONDS = 300.0


CHANNELS = ("email", "sms", "push", "alert")
PROVIDERS = ("file", "smtp", "webhook")


def parse_channel_providers(value: str) -> dict[str, str]:
    """``"email=smtp,alert=webhook"`` as a provider for every channel (file by default)."""
    providers = dict.fromkeys(CHANNELS, "file")
    for entry in value.split(","):
        if not entry.strip():
            continue
        channel, sep, provider = (part.strip().lower() for part in entry.partition("="))
        if not sep or channel not in CHANNELS or provider not in PROVIDERS:
            raise ValueError(
                f"MESSAGING_CHANNELS entry {entry.strip()!r}: expected CHANNEL=PROVIDER with a "
                f"channel of {', '.join(CHANNELS)} and a provider of {', '.join(PROVIDERS)}"
            )
        providers[channel] = provider
    return providers


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    omnirelay_env: Literal["development", "production", "test"] = "development"
    omnirelay_data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    basic_auth_username: str | None = None
    basic_auth_password: SecretStr | None = None
    encryption_key: SecretStr | None = None  # comma-separated Fernet keys; the first encrypts
    max_retry_attempts: int = Field(default=5, ge=1, le=50)
    retry_backoff_base: float = Field(default=60.0, ge=0.0)
    debug: bool = False
    log_level: str = "INFO"

    # /docs and /openapi.json, /metrics without credentials (else they need the read scope)
    public_docs: bool = False
    public_metrics: bool = False
    # failed authentications per client and minute before it is answered 429
    auth_failures_per_minute: int = Field(default=20, ge=1, le=100_000)

    max_request_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=10_000, ge=1)
    event_time_future_tolerance_seconds: float = Field(
        default=DEFAULT_FUTURE_TOLERANCE_SECONDS, ge=0, le=10 * 365 * 86400
    )

    worker_poll_interval: float = Field(default=0.5, gt=0, le=60)
    worker_batch_size: int = Field(default=1000, ge=1, le=10_000)
    worker_lease_seconds: float = Field(default=120.0, gt=0)
    worker_concurrency: int = Field(default=16, ge=1, le=1024)
    worker_batches_in_flight: int = Field(default=3, ge=1, le=64)
    worker_prepare_processes: int = Field(default=1, ge=0, le=64)
    delivery_timeout_seconds: float = Field(default=15.0, gt=0)
    # hosts and networks (CIDR) outbound requests may reach though they are not public
    outbound_allow: str = ""
    # the campaign naming taxonomy (relative: to the working directory, else the project's)
    taxonomy_spec_path: Path = Path("config/taxonomy.yaml")

    # Message sending: which provider sends each channel ("email=smtp,sms=file,...";
    # a channel not named goes to the file provider), and each provider's settings.
    messaging_channels: str = ""
    messaging_file_path: Path | None = None  # default: OMNIRELAY_DATA_DIR/messages.txt
    messaging_webhook_url: str = ""
    messaging_webhook_secret: SecretStr | None = None  # HMAC-SHA256 signing secret
    # who gets the "alert" channel (the CX team): an address when alerts go by email
    messaging_alert_recipient: str = "cx-team"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True  # upgrade with STARTTLS (required when set)
    smtp_tls: bool = False  # implicit TLS from the first byte (port 465)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "omnirelay@localhost"
    smtp_validate_certs: bool = True

    # The messaging rules file, and its templates (default: templates/ beside the file);
    # reloaded by POST /admin/v1/messaging/rules/reload and SIGHUP.
    rules_file: Path = Path("config/rules.yaml")
    rules_templates_dir: Path | None = None
    # The storefront code of a POST /events event that names none (none: it must name one).
    messaging_default_storefront: str | None = None
    # How many stored OMS events the worker evaluates against the rules per pass.
    messaging_batch_size: int = Field(default=200, ge=1, le=10_000)

    @property
    def is_production(self) -> bool:
        return self.omnirelay_env == "production"

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: str) -> str:
        parse_allow(value)  # a ValueError names the entry
        return value

    @field_validator("messaging_channels")
    @classmethod
    def _messaging_channels(cls, value: str) -> str:
        parse_channel_providers(value)  # a ValueError names the entry
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.omnirelay_data_dir / 'omnirelay.db'}"
        return self

    @property
    def channel_providers(self) -> dict[str, str]:
        """The provider of every channel."""
        return parse_channel_providers(self.messaging_channels)

    @property
    def messages_file(self) -> Path:
        return self.messaging_file_path or self.omnirelay_data_dir / "messages.txt"

    @property
    def templates_dir(self) -> Path:
        return self.rules_templates_dir or self.rules_file.parent / "templates"

    def encryption_keys(self) -> list[str]:
        if self.encryption_key is None:
            return []
        return [k.strip() for k in self.encryption_key.get_secret_value().split(",") if k.strip()]


def _local_secrets_file(settings: Settings) -> Path:
    return settings.omnirelay_data_dir / "local-secrets.json"


def ensure_local_secrets(settings: Settings) -> Path | None:
    """Fill missing key and admin credentials from (or into) the local secrets file.

    Returns the file path when it was used, so the caller can say where it is. In
    production nothing is generated: missing values are a configuration error.
    """
    missing = [
        name
        for name, value in (
            ("ENCRYPTION_KEY", settings.encryption_key),
            ("BASIC_AUTH_USERNAME", settings.basic_auth_username),
            ("BASIC_AUTH_PASSWORD", settings.basic_auth_password),
        )
        if not value or (isinstance(value, SecretStr) and not value.get_secret_value())
    ]
    if not missing:
        return None
    if settings.is_production:
        raise ConfigurationError(
            f"OMNIRELAY_ENV=production requires {', '.join(missing)} to be set; "
            "generate a key with `omnirelay keygen`"
        )
    path = _local_secrets_file(settings)
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "BASIC_AUTH_USERNAME": "admin",
            "BASIC_AUTH_PASSWORD": secrets.token_urlsafe(18),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    if "ENCRYPTION_KEY" in missing:
        settings.encryption_key = SecretStr(stored["ENCRYPTION_KEY"])
    if "BASIC_AUTH_USERNAME" in missing:
        settings.basic_auth_username = stored["BASIC_AUTH_USERNAME"]
    if "BASIC_AUTH_PASSWORD" in missing:
        settings.basic_auth_password = SecretStr(stored["BASIC_AUTH_PASSWORD"])
    return path


# Where the process's local development secrets came from, if it used them.
local_secrets_in_use: Path | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    global local_secrets_in_use
    settings = Settings()
    local_secrets_in_use = ensure_local_secrets(settings)
    return settings

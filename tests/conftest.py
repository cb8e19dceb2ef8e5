"""Test databases: SQLite always; PostgreSQL and MariaDB/MySQL when reachable.

Each backend gets a database of its own (``omnirelay_test_<pid>``), built by the real
migrations, and every test starts from empty tables. With CI=true an unreachable server is
a failure, not a skip. OMNIRELAY_TEST_BACKENDS narrows the list (e.g. ``sqlite``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from cryptography.fernet import Fernet
from fastapi.dependencies import models as fastapi_dependencies
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.app import create_app
from omnirelay.config import Settings
from omnirelay.db import create_engine
from omnirelay.migrations import alembic_config
from omnirelay.pipeline import create_worker
from omnirelay.sandbox.app import create_sandbox_app
from omnirelay.sandbox.core import SANDBOX
from omnirelay.storefronts.platform_catalog import PLATFORMS
from tests.tcp_proxy import TcpProxy

BACKENDS = [
    b.strip()
    for b in os.environ.get("OMNIRELAY_TEST_BACKENDS", "sqlite,postgresql,mariadb").split(",")
    if b.strip()
]
# The backends a TcpProxy can cut off (SQLite is a file: no connection to break).
SERVER_BACKENDS = [b for b in BACKENDS if b != "sqlite"]
# Parametrize a test (or module) with this to run it on the server backends only.
server_backends = pytest.mark.parametrize("database_url", SERVER_BACKENDS, indirect=True)
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
POSTGRES_ADMIN = os.environ.get(
    "OMNIRELAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_ADMIN = os.environ.get("OMNIRELAY_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_KEY = Fernet.generate_key().decode()
AUTH = ("admin", "test-password")
# Child tables first, so deletes never trip a foreign key.
TABLES = (
    "message_inbox",
    "message_cap_slots",
    "message_suppressions",
    "message_decisions",
    "event_properties",
    "user_traits",
    "message_sends",
    "ticket_status_history",
    "tickets",
    "campaign_names",
    "campaigns",
    "trafficking_credentials",
    "channels",
    "markets",
    "brands",
    "event_attempts",
    "delivery_requests",
    "event_deliveries",
    "marketing_events",
    "platform_credentials",
    "storefront_sgtm_config",
    "storefronts",
    "api_keys",
)


def _unreachable(backend: str, exc: BaseException) -> None:
    message = f"{backend} is not reachable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: every backend must run)")
    pytest.skip(message)


async def _create_server_database(backend: str, name: str) -> str:
    if backend == "postgresql":
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_ADMIN.replace("postgresql://", "postgres://"))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    import asyncmy

    url = httpx.URL(MYSQL_ADMIN.replace("mysql://", "http://"))
    connection = await asyncmy.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        connection.close()
    return MYSQL_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def _drop_server_database(backend: str, name: str) -> None:
    try:
        if backend == "postgresql":
            import asyncpg

            connection = await asyncpg.connect(
                POSTGRES_ADMIN.replace("postgresql://", "postgres://")
            )
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()
        else:
            import asyncmy

            url = httpx.URL(MYSQL_ADMIN.replace("mysql://", "http://"))
            connection = await asyncmy.connect(
                host=url.host,
                port=url.port or 3306,
                user=url.username or "root",
                password=url.password or "",
            )
            async with connection.cursor() as cursor:
                await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            connection.close()
    except Exception as exc:  # driver errors differ per backend; a leftover is not a failure
        warnings.warn(
            f"the test database {name} on {backend} was not dropped: {exc!r}", stacklevel=1
        )


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    backend = request.param
    name = f"omnirelay_test_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'omnirelay.db'}"
    else:
        try:
            url = await _create_server_database(backend, name)
        except (OSError, Exception) as exc:  # driver errors differ per backend
            _unreachable(backend, exc)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    yield url
    if backend != "sqlite":
        await _drop_server_database(backend, name)


@pytest.fixture
async def db_url(database_url: str) -> str:
    """The backend's database with every data table emptied (platform master data kept,
    platforms a test added removed)."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))
        await connection.execute(
            text("DELETE FROM ad_analytics_platforms WHERE platform_code NOT IN :codes").bindparams(
                bindparam("codes", [p["platform_code"] for p in PLATFORMS], expanding=True)
            )
        )
        await connection.execute(
            text("UPDATE ad_analytics_platforms SET is_active = :t").bindparams(t=True)
        )
    await engine.dispose()
    return database_url


# FastAPI remembers how it classified each endpoint and dependency in module-level caches
# (4096 entries each). The endpoints of an app are closures that hold the app, so without
# clearing them after each test those caches keep hundreds of the apps the tests build
# alive: millions of objects that every full garbage collection of the process walks.
_FASTAPI_CALLABLE_CACHES = [
    value
    for name, value in vars(fastapi_dependencies).items()
    if name.endswith("_cached") and hasattr(value, "cache_clear")
]


@pytest.fixture(autouse=True)
def forget_apps() -> Iterator[None]:
    yield
    for cache in _FASTAPI_CALLABLE_CACHES:
        cache.cache_clear()


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What names resolve to in a test: a test adds ``dns[name] = [addresses]``. Numeric
    hosts and ``localhost`` resolve as usual; every other name does not resolve, so no test
    asks a real DNS server."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        key = name.lower().rstrip(".") if isinstance(name, str) else None
        if key in answers:
            number = int(port or 0)
            found = []
            for address in map(ipaddress.ip_address, answers[key]):
                if address.version == 6:
                    found.append(
                        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (str(address), number, 0, 0))
                    )
                else:
                    found.append(
                        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(address), number))
                    )
            return found
        try:
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            if key == "localhost":
                return real(host, port, family, type, proto, flags)
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no DNS in tests") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        omnirelay_env="test",
        omnirelay_data_dir=tmp_path,
        encryption_key=TEST_KEY,
        basic_auth_username=AUTH[0],
        basic_auth_password=AUTH[1],
        retry_backoff_base=60,
        worker_poll_interval=0.05,
        # prepared inline: the preparing processes have tests of their own
        worker_prepare_processes=0,
        # the sandbox: in process (http://sandbox) and as a server on loopback
        outbound_allow="127.0.0.1,sandbox",
    )


@pytest.fixture
async def db_proxy(db_url: str) -> AsyncIterator[TcpProxy]:
    """A TcpProxy in front of the backend's server (see tests/tcp_proxy.py); only for tests
    parametrized with ``server_backends``."""
    url = make_url(db_url)
    backend = url.get_backend_name()
    if backend not in _DEFAULT_PORTS:
        pytest.fail(f"db_proxy needs a server backend, not {backend}: use @server_backends")
    async with TcpProxy(url.host or "127.0.0.1", url.port or _DEFAULT_PORTS[backend]) as proxy:
        yield proxy


@pytest.fixture
def proxied_database_url(db_url: str, db_proxy: TcpProxy) -> str:
    """The test database (same name, same user) reached through ``db_proxy``."""
    url = make_url(db_url).set(host=db_proxy.host, port=db_proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def proxied_settings(settings: Settings, proxied_database_url: str) -> Settings:
    """``settings`` whose database is reached through ``db_proxy``."""
    return settings.model_copy(update={"database_url": proxied_database_url})


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://omnirelay", auth=AUTH
    ) as http:
        yield http


@pytest.fixture
def sessionmaker(app: Any) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return factory


@pytest.fixture
def backend(db_url: str) -> str:
    return db_url.split(":", 1)[0].split("+")[0]


@pytest.fixture
async def sandbox_http() -> AsyncIterator[httpx.AsyncClient]:
    SANDBOX.reset()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_sandbox_app()), base_url="http://sandbox"
    ) as http:
        yield http
    SANDBOX.reset()


@pytest.fixture
def worker(app: Any, sandbox_http: httpx.AsyncClient) -> Any:
    return create_worker(
        app.state.settings,
        app.state.sessionmaker,
        app.state.vault,
        app.state.metrics,
        client=sandbox_http,
    )

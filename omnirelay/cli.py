"""The ``omnirelay`` command."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from omnirelay.config import Settings
from omnirelay.errors import OmniRelayError
from omnirelay.keys.cli import keys_app
from omnirelay.messaging.cli import rules_app

app = typer.Typer(help="omnirelay: server-side marketing event relay.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(rules_app, name="rules")


@keys_app.callback()
def _keys(ctx: typer.Context) -> None:
    ctx.obj = _settings()


def _settings() -> Settings:
    from omnirelay.config import get_settings
    from omnirelay.logs import configure_logging

    try:
        settings = get_settings()
    except OmniRelayError as exc:
        typer.secho(f"configuration error: {exc.detail}", fg="red", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    return settings


def _announce_local_secrets(settings: Settings) -> None:
    from omnirelay import config

    path = config.local_secrets_in_use
    if path is not None:
        typer.secho(
            f"Using local development secrets from {path} "
            f"(admin user {settings.basic_auth_username!r}; password and encryption key are in "
            "that file). Set BASIC_AUTH_USERNAME, BASIC_AUTH_PASSWORD and ENCRYPTION_KEY to "
            "use your own.",
            fg="yellow",
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="run the delivery worker in this process")
    ] = True,
) -> None:
    """Serve the API (with the delivery worker inside the same process by default).
    SIGHUP reloads the messaging rules."""
    import uvicorn

    from omnirelay.app import create_app
    from omnirelay.messaging.holder import reload_every_holder
    from omnirelay.tuning import tune_for_throughput

    settings = _settings()
    _announce_local_secrets(settings)
    application = create_app(settings, run_worker=worker)
    tune_for_throughput()
    # uvicorn takes over SIGINT and SIGTERM only; a reload is a file read, short enough to
    # run in the handler.
    signal.signal(signal.SIGHUP, lambda _signal, _frame: reload_every_holder())
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=settings.debug,
    )


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="deliver what is due now, then exit")] = False,
    kinds: Annotated[
        str | None,
        typer.Option(help="the kinds of delivery to work, comma-separated (default: all)"),
    ] = None,
) -> None:
    """Run the delivery worker alone (scale out with several processes on PostgreSQL/MySQL;
    ``--kinds`` splits the work between them). SIGHUP reloads the messaging rules."""
    from omnirelay.db import create_engine, create_sessionmaker
    from omnirelay.messaging.holder import reload_every_holder
    from omnirelay.metrics import Metrics
    from omnirelay.pipeline import create_worker
    from omnirelay.security import Vault
    from omnirelay.tuning import tune_for_throughput

    settings = _settings()
    only = kinds.split(",") if kinds is not None else None

    async def main() -> None:
        engine = create_engine(settings.database_url)
        try:
            worker = create_worker(
                settings,
                create_sessionmaker(engine),
                Vault(settings.encryption_keys()),
                Metrics(),
                only_kinds=only,
            )
        except ValueError as exc:
            await engine.dispose()
            raise typer.BadParameter(str(exc), param_hint="--kinds") from None
        tune_for_throughput()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.stop()))
        loop.add_signal_handler(signal.SIGHUP, reload_every_holder)
        try:
            if once:
                await worker.drain()
                await worker.close()
            else:
                await worker.run()
        finally:
            await engine.dispose()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Create or migrate the schema (SQLite, PostgreSQL or MySQL/MariaDB)."""
    from alembic import command

    from omnirelay.db import normalize_database_url
    from omnirelay.migrations import alembic_config

    settings = _settings()
    command.upgrade(alembic_config(normalize_database_url(settings.database_url)), revision)
    typer.echo(f"database is at revision {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the configured database."""
    from alembic import command

    from omnirelay.db import normalize_database_url
    from omnirelay.migrations import alembic_config

    settings = _settings()
    command.current(alembic_config(normalize_database_url(settings.database_url)))


@app.command()
def keygen() -> None:
    """Print a new Fernet key for ENCRYPTION_KEY."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the first key of ENCRYPTION_KEY.

    Put the new key first and keep the old ones after it until this has run."""
    from omnirelay.db import create_engine, create_sessionmaker, session_scope
    from omnirelay.security import Vault
    from omnirelay.storefronts.service import reencrypt_secrets
    from omnirelay.trafficking.credentials import reencrypt as reencrypt_trafficking

    settings = _settings()

    async def main() -> int:
        engine = create_engine(settings.database_url)
        vault = Vault(settings.encryption_keys())
        try:
            async with session_scope(create_sessionmaker(engine)) as session:
                count = await reencrypt_secrets(session, vault)
                return count + await reencrypt_trafficking(session, vault)
        finally:
            await engine.dispose()

    typer.echo(f"re-encrypted {asyncio.run(main())} secrets under the first key")


@app.command()
def replay(
    delivery_id: Annotated[list[int] | None, typer.Option(help="delivery ids (repeatable)")] = None,
    event_id: Annotated[list[int] | None, typer.Option(help="event ids (repeatable)")] = None,
    storefront: Annotated[str | None, typer.Option(help="storefront id or code")] = None,
    destination: Annotated[str | None, typer.Option(help="destination code, e.g. meta")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="statuses to replay (default: dead)")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="last changed at or after")] = None,
    until: Annotated[datetime | None, typer.Option(help="last changed before")] = None,
) -> None:
    """Put dead (or skipped) deliveries back in the queue."""
    from omnirelay.db import create_engine, create_sessionmaker, session_scope
    from omnirelay.relay.events_schemas import ReplayRequest
    from omnirelay.relay.events_service import replay_deliveries

    settings = _settings()
    try:
        request = ReplayRequest(
            delivery_ids=delivery_id or None,
            event_ids=event_id or None,
            storefront_id=storefront,
            destination=destination,
            statuses=status or ["dead"],
            since=since,
            until=until,
        )
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        typer.secho(json.dumps(problems), fg="red", err=True)
        raise typer.Exit(2) from None

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_scope(create_sessionmaker(engine)) as session:
                return (await replay_deliveries(session, request)).replayed
        except OmniRelayError as exc:
            typer.secho(json.dumps(exc.detail), fg="red", err=True)
            raise typer.Exit(2) from None
        finally:
            await engine.dispose()

    typer.echo(f"replayed {asyncio.run(main())} deliveries")


@app.command("route-again")
def route_again_command(
    event_id: Annotated[
        list[int] | None, typer.Option(help="only these event ids (repeatable)")
    ] = None,
) -> None:
    """Put events set aside as "cannot be routed" back in the routing queue (once the
    cause, such as a bug, is fixed)."""
    from omnirelay.db import create_engine, create_sessionmaker, run_transaction
    from omnirelay.delivery.dispatch import route_again

    settings = _settings()
    for number in event_id or ():
        if not -(2**63) <= number < 2**63:
            raise typer.BadParameter(f"{number} is beyond 64 bits", param_hint="--event-id")

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await run_transaction(
                create_sessionmaker(engine), lambda session: route_again(session, event_id)
            )
        finally:
            await engine.dispose()

    typer.echo(f"{asyncio.run(main())} events back in the routing queue")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="loopback interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8090,
) -> None:
    """Serve local fakes of sGTM, Meta, GA4, TikTok, Snapchat, Pinterest and a webhook."""
    import uvicorn

    from omnirelay.sandbox.app import create_sandbox_app
    from omnirelay.tuning import tune_collector

    sandbox_app = create_sandbox_app()
    tune_collector()  # it keeps every request it gets: not worth rescanning on each collection
    uvicorn.run(sandbox_app, host=host, port=port, log_level="warning")


@app.command()
def demo(
    sandbox_url: Annotated[
        str, typer.Option(help="where `omnirelay sandbox` listens")
    ] = "http://127.0.0.1:8090",
) -> None:
    """Create a 'demo' storefront whose five platform credentials point at the sandbox, and
    a demo brand whose Meta ticket is ready to deploy to the sandbox's campaign fake."""
    import httpx

    from omnirelay.db import create_engine, create_sessionmaker, session_scope
    from omnirelay.netguard import OutboundGuard
    from omnirelay.sandbox.demo import create_demo_storefront
    from omnirelay.security import Vault
    from omnirelay.trafficking.demo import create_demo_trafficking
    from omnirelay.trafficking.qa import load_platform_translators
    from omnirelay.trafficking.taxonomy import Taxonomy, load_spec

    settings = _settings()
    _announce_local_secrets(settings)

    async def main() -> tuple[list[str], str]:
        engine = create_engine(settings.database_url)
        vault = Vault(settings.encryption_keys())
        load_platform_translators()
        taxonomy = Taxonomy(load_spec(settings.taxonomy_spec_path))
        try:
            async with session_scope(create_sessionmaker(engine)) as session:
                created = await create_demo_storefront(session, vault, sandbox_url)
                ticket = await create_demo_trafficking(session, vault, sandbox_url, taxonomy)
                return created, str(ticket.id)
        finally:
            await engine.dispose()

    created, ticket_id = asyncio.run(main())
    typer.echo(f"storefront 'demo' delivers to the sandbox at {sandbox_url}: {', '.join(created)}")
    typer.echo(
        f"ticket {ticket_id} of brand DEMO is READY_FOR_API; deploy it to the sandbox with\n"
        f"  curl -u $BASIC_AUTH_USERNAME:$BASIC_AUTH_PASSWORD -H 'content-type: application/json' "
        f'http://127.0.0.1:8000/api/v1/deploy -d \'{{"ticket_id":"{ticket_id}"}}\''
    )
    host = httpx.URL(sandbox_url).host
    if OutboundGuard(settings.outbound_allow).host_refusal(host):
        typer.echo(f"the worker reaches it only with OUTBOUND_ALLOW={host} (make demo sets it)")


if __name__ == "__main__":
    app()

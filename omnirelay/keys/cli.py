"""``omnirelay keys create|list|rotate|revoke``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.errors import OmniRelayError

keys_app = typer.Typer(
    help="API keys with scopes (ingest, read, admin, trafficking).", no_args_is_help=True
)
T = TypeVar("T")


def _run(ctx: typer.Context, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database (``ctx.obj``: the
    settings, loaded by the ``keys`` group)."""
    from omnirelay.db import create_engine, create_sessionmaker, session_scope

    settings = ctx.obj

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with session_scope(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except OmniRelayError as exc:
        typer.secho(f"error: {exc.detail}", fg="red", err=True)
        raise typer.Exit(1) from None


def _show(key: Any) -> str:
    storefronts = ",".join(key.storefronts) if key.storefronts is not None else "all"
    state = "revoked" if key.revoked_at else "active"
    used = key.last_used_at.isoformat() if key.last_used_at else "never"
    return (
        f"{key.key_id}  {key.name!r}  scopes={','.join(key.scopes)}  storefronts={storefronts}"
        f"  {state}  created={key.created_at.isoformat()}  last used={used}"
    )


def _print_secret(key: Any) -> None:
    typer.echo(_show(key))
    typer.echo(f"secret (shown once): {key.secret}")
    typer.echo(f"Basic: user {key.key_id}, password the secret; Bearer: {key.bearer_token}")


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="what the key is for")],
    scope: Annotated[
        list[str], typer.Option(help="ingest, read, admin or trafficking (repeatable)")
    ],
    storefront: Annotated[
        list[str] | None, typer.Option(help="limit an ingest key to these storefronts")
    ] = None,
) -> None:
    """Create a key; its secret is printed once."""
    from omnirelay.keys import service
    from omnirelay.keys.schemas import KeyCreate

    try:
        body = KeyCreate.model_validate(
            {"name": name, "scopes": scope, "storefronts": storefront or None}
        )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise typer.BadParameter(reasons) from None
    _print_secret(_run(ctx, lambda session: service.create_key(session, body)))


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    all_keys: Annotated[bool, typer.Option("--all", help="revoked keys too")] = False,
) -> None:
    from omnirelay.keys import service

    for key in _run(ctx, lambda session: service.list_keys(session, all_keys)):
        typer.echo(_show(key))


@keys_app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: str,
    overlap_seconds: Annotated[int, typer.Option(help="the old secret stays valid")] = 86_400,
) -> None:
    """A new secret for a key; the old one stays valid during the overlap."""
    from omnirelay.keys import service
    from omnirelay.keys.schemas import KeyRotate

    body = KeyRotate(overlap_seconds=overlap_seconds)
    _print_secret(_run(ctx, lambda session: service.rotate_key(session, key_id, body)))


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key_id: str) -> None:
    from omnirelay.keys import service

    typer.echo(_show(_run(ctx, lambda session: service.revoke_key(session, key_id))))

"""``omnirelay rules check|simulate``: nothing written, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from omnirelay.messaging.rules.ruleset import RuleSet

rules_app = typer.Typer(
    help="Messaging rules: check a rules file, simulate an event against it.",
    no_args_is_help=True,
)

TemplatesOption = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="directory of the templates (NAME.j2); default: templates/ beside the rules file",
    ),
]


def _load(rules_file: Path, templates: Path | None) -> RuleSet:
    from omnirelay.messaging.rules.loader import RulesFileError, load_rules, template_names

    directory = templates if templates is not None else rules_file.parent / "templates"
    if not directory.is_dir():
        typer.secho(f"{rules_file}: no templates directory {directory}", fg="red", err=True)
        raise typer.Exit(1)
    try:
        return load_rules(rules_file, template_names(directory))
    except RulesFileError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@rules_app.command()
def check(
    file: Annotated[Path, typer.Argument(help="the rules file (YAML)")],
    templates: TemplatesOption = None,
) -> None:
    """Load a rules file: a one-line summary with its version, or every problem (exit 1)."""
    typer.echo(f"OK {_load(file, templates).summary()}")


@rules_app.command()
def simulate(
    event_file: Annotated[
        Path, typer.Argument(metavar="EVENT.json", help="one event, as in POST /events")
    ],
    rules: Annotated[
        Path,
        typer.Option("--rules", envvar="RULES_FILE", help="the rules file (default: RULES_FILE's)"),
    ] = Path("config/rules.yaml"),
    templates: TemplatesOption = None,
    prior: Annotated[
        list[str] | None,
        typer.Option(
            "--prior",
            metavar="TYPE=ISO8601",
            help="an earlier event of the same user (repeatable), like "
            "signup_completed=2024-01-14T09:00:00Z",
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="stored user traits (JSON) for what the event omits"),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="the time quiet hours are judged at (default: the event's timestamp)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the decision as JSON")] = False,
) -> None:
    """Evaluate one event and print the decision with its full explanation."""
    from pydantic import ValidationError

    from omnirelay.messaging.rules.evaluate import evaluate
    from omnirelay.messaging.rules.event import MessagingEvent
    from omnirelay.messaging.rules.prior import InMemoryPriorEvents
    from omnirelay.messaging.rules.schema import parse_datetime

    rule_set = _load(rules, templates)
    try:
        event = MessagingEvent.model_validate(_read_json(event_file, "EVENT.json"))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems, param_hint="EVENT.json") from None
    if profile is not None:
        stored = _read_json(profile, "--profile")
        if not isinstance(stored, dict):
            raise typer.BadParameter("needs a JSON object of traits", param_hint="--profile")
        event = event.with_profile(stored)

    history = InMemoryPriorEvents()
    for item in prior or []:
        event_type, _, at = item.partition("=")
        timestamp = parse_datetime(at) if at else None
        if not event_type or timestamp is None:
            raise typer.BadParameter(f"{item!r} is not TYPE=ISO8601", param_hint="--prior")
        history.add(event.user_id, event_type, timestamp)

    judged_at = None
    if now is not None:
        judged_at = parse_datetime(now)
        if judged_at is None:
            raise typer.BadParameter(f"{now!r} is not an ISO 8601 date-time", param_hint="--now")

    decision = evaluate(rule_set, event, history, now=judged_at)
    if as_json:
        typer.echo(json.dumps(decision.as_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(decision.explain())


def _read_json(path: Path, hint: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror or exc}", param_hint=hint) from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path}: not JSON: {exc}", param_hint=hint) from None

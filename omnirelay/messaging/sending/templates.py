"""Message templates: files in the templates directory, rendered in Jinja2's sandbox.

``NAME.j2`` is text (an SMS, a push notification, an alert, a plain-text email);
``NAME.html.j2`` is HTML, autoescaped, for email. A template may have both: the email then
carries the text and the HTML as alternatives. An email template names its subject in a
``{% block subject %}`` and its body in a ``{% block body %}``; a template without a
``body`` block is its body as a whole. Variables: ``event`` (the event's fields, also
given by name: ``user_id``, ``event_type``, ``event_timestamp``), ``properties`` and
``user_traits`` (also ``traits``). A subject is one line of text (from an HTML
template, unescaped again: a header is not HTML). A variable a template uses and the
event does not have is an error (``StrictUndefined``), not an empty string in a
customer's inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound, select_autoescape
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment

TEXT_SUFFIX = ".j2"
HTML_SUFFIX = ".html.j2"
SUBJECT_LIMIT = 250  # characters: a subject is one line


class TemplateRenderError(Exception):
    """A template that cannot be rendered for this message (the reason is the text)."""


@dataclass(frozen=True)
class RenderedMessage:
    text: str | None  # None: an HTML-only email
    html: str | None = None  # the HTML form of an email
    subject: str | None = None

    @property
    def body(self) -> str:
        """The text, or the HTML when there is no text form."""
        return self.text if self.text is not None else self.html or ""


class TemplateRenderer:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.environment = SandboxedEnvironment(
            loader=FileSystemLoader(self.directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            keep_trailing_newline=False,
            auto_reload=True,  # an edited template is used without a restart
        )

    def render(self, name: str, channel: str, context: Mapping[str, Any]) -> RenderedMessage:
        """The message ``name`` makes for ``channel``; a ``TemplateRenderError`` says why
        it cannot be made."""
        text = self._template(name + TEXT_SUFFIX)
        html = self._template(name + HTML_SUFFIX) if channel == "email" else None
        if text is None and html is None:
            raise TemplateRenderError(f"template {name!r} not found in {self.directory}")
        try:
            variables = _variables(context)
            subject = None
            if channel == "email":
                source = text if text is not None and "subject" in text.blocks else html
                if source is None or "subject" not in source.blocks:
                    raise TemplateRenderError(
                        f"template {name!r}: an email needs a {{% block subject %}}"
                    )
                subject = " ".join(_block(source, "subject", variables).split())
                if source is html:  # a header is text: what HTML escaped is given back
                    subject = unescape(subject)
                if not subject:
                    raise TemplateRenderError(f"template {name!r}: the subject is empty")
                subject = subject[:SUBJECT_LIMIT]
            rendered_text = _body(text, variables) if text is not None else None
            rendered_html = _body(html, variables) if html is not None else None
        except TemplateRenderError:
            raise
        except Exception as exc:  # a template's own error ({{ 1 / 0 }}) is this message's
            raise TemplateRenderError(f"template {name!r}: {type(exc).__name__}: {exc}") from None
        return RenderedMessage(rendered_text, rendered_html, subject)

    def _template(self, filename: str) -> Template | None:
        try:
            return self.environment.get_template(filename)
        except TemplateNotFound:
            return None
        except TemplateError as exc:  # a syntax error: this message's error, not the worker's
            raise TemplateRenderError(f"{filename}: {type(exc).__name__}: {exc}") from None


def _variables(context: Mapping[str, Any]) -> dict[str, Any]:
    event = dict(context.get("event") or {})
    traits = dict(context.get("user_traits") or {})
    return event | {
        "event": event,
        "properties": dict(context.get("properties") or {}),
        "user_traits": traits,
        "traits": traits,
    }


def _block(template: Template, name: str, variables: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(variables))).strip()


def _body(template: Template, variables: dict[str, Any]) -> str:
    if "body" in template.blocks:
        return _block(template, "body", variables)
    if "subject" in template.blocks:  # else the subject would be sent as the body's start
        raise TemplateRenderError(
            f"{template.name}: a template with a subject block puts its body in {{% block body %}}"
        )
    return template.render(variables).strip()

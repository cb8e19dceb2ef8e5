"""Templates in the sandbox (strict variables, the subject block, HTML escaped), the
channel-to-provider setting, and a target no transport serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from omnirelay.config import Settings, parse_channel_providers
from omnirelay.delivery.transports import TransportsByScheme
from omnirelay.destinations.base import PreparedRequest
from omnirelay.messaging.rules import load_rules
from omnirelay.messaging.rules.loader import template_names
from omnirelay.messaging.sending.templates import TemplateRenderer, TemplateRenderError
from tests.messaging.sending.helpers import CONFIG_TEMPLATES, SEED_CONTEXT

RULES = CONFIG_TEMPLATES.parent / "rules.yaml"


def _renderer(tmp_path: Path, **files: str) -> TemplateRenderer:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return TemplateRenderer(tmp_path)


def test_every_shipped_template_renders_for_its_rules_channel() -> None:
    rules = load_rules(RULES, template_names(CONFIG_TEMPLATES))
    renderer = TemplateRenderer(CONFIG_TEMPLATES)
    context = SEED_CONTEXT | {
        "properties": SEED_CONTEXT["properties"] | {"plan": "premium", "steps_left": 2}
    }
    for rule in rules.rules:
        if rule.action.template_name is None:
            continue
        channel = rule.action.delivery_method
        message = renderer.render(rule.action.template_name, channel, context)
        assert message.body, rule.name
        assert (message.subject is not None) == (channel == "email"), rule.name
        assert "{{" not in message.body and "{%" not in message.body


def test_an_email_has_a_one_line_subject_and_its_body_block(tmp_path: Path) -> None:
    renderer = _renderer(
        tmp_path,
        **{
            "R.j2": "{% block subject %}  Receipt\n for {{ properties.amount }} {% endblock %}"
            "{% block body %}Paid {{ properties.amount }}.{% endblock %}",
        },
    )
    message = renderer.render("R", "email", SEED_CONTEXT)
    assert (message.subject, message.text, message.html) == (
        "Receipt for 29.99",
        "Paid 29.99.",
        None,
    )
    # the same template as an SMS is its body
    assert renderer.render("R", "sms", SEED_CONTEXT).body == "Paid 29.99."


@pytest.mark.parametrize(
    ("text", "channel", "problem"),
    [
        ("Hello {{ user_traits.nickname }}", "sms", "UndefinedError"),
        ("{% block body %}x{% endblock %}", "email", "needs a {% block subject %}"),
        ("{% block subject %}s{% endblock %} and a loose body", "email", "{% block body %}"),
        ("{{ ''.__class__.__mro__ }}", "push", "SecurityError"),
        ("{% for %}", "sms", "TemplateSyntaxError"),
        ("{{ properties.amount / 0 }}", "sms", "ZeroDivisionError"),
        ('{{ properties.amount + "x" }}', "sms", "TypeError"),
    ],
)
def test_what_cannot_be_rendered_is_a_render_error(
    tmp_path: Path, text: str, channel: str, problem: str
) -> None:
    renderer = _renderer(tmp_path, **{"T.j2": text})
    with pytest.raises(TemplateRenderError, match=re.escape(problem)):
        renderer.render("T", channel, SEED_CONTEXT)


def test_an_html_only_email_is_escaped(tmp_path: Path) -> None:
    renderer = _renderer(
        tmp_path,
        **{
            "H.html.j2": "{% block subject %}Hi {{ user_traits.name }}{% endblock %}"
            "{% block body %}<p>{{ user_traits.name }}</p>{% endblock %}"
        },
    )
    message = renderer.render("H", "email", {"user_traits": {"name": "<i>Al</i>"}})
    assert message.text is None
    assert message.html == message.body == "<p>&lt;i&gt;Al&lt;/i&gt;</p>"
    assert message.subject == "Hi <i>Al</i>"  # a header is text, not HTML


def test_the_channel_providers_setting() -> None:
    assert parse_channel_providers("") == dict.fromkeys(("email", "sms", "push", "alert"), "file")
    assert parse_channel_providers(" email=smtp , alert=WEBHOOK") == {
        "email": "smtp",
        "sms": "file",
        "push": "file",
        "alert": "webhook",
    }
    with pytest.raises(ValidationError, match="'fax=smtp'"):
        Settings(messaging_channels="email=smtp,fax=smtp")
    with pytest.raises(ValidationError, match="'email'"):
        Settings(messaging_channels="email")


def test_a_target_no_transport_serves_is_refused_before_sending() -> None:
    transports = TransportsByScheme({})
    with pytest.raises(ValueError, match="no transport for 'gopher'"):
        transports.build(PreparedRequest("POST", "gopher://x/", [1]), None)

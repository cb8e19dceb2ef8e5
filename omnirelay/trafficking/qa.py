"""Automatic QA of a ticket: what its platform's translator finds wrong with the draft, what
the taxonomy says of the names, and the budget and flight dates.

Translators are found by platform in a registry filled at start-up from
``omnirelay.trafficking.translators.all_translators()`` (the platform modules) and by
``register_translator``. A channel whose platform has no translator fails QA: nothing can
build its payload.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date
from decimal import Decimal

from omnirelay.trafficking.taxonomy import Taxonomy
from omnirelay.trafficking.translators import platform_key
from omnirelay.trafficking.translators.base import CampaignDraft, QaProblem, Translator

log = logging.getLogger("omnirelay.trafficking")
_TRANSLATORS: dict[str, Translator] = {}


def register_translator(translator: Translator) -> None:
    """Make ``translator`` the one for its platform (replacing any before it)."""
    _TRANSLATORS[platform_key(translator.platform)] = translator


def unregister_translator(platform: str) -> None:
    _TRANSLATORS.pop(platform_key(platform), None)


def translator_for(platform: str) -> Translator | None:
    """The registered translator of a channel's platform, named as the deploy names it
    (``omnirelay.trafficking.translators.platform_key``)."""
    return _TRANSLATORS.get(platform_key(platform))


def load_platform_translators() -> int:
    """Register the translators the platform modules provide; how many there are. Without
    those modules no platform has one (and every ticket fails QA, saying so)."""
    try:
        module = importlib.import_module("omnirelay.trafficking.translators")
    except ImportError:
        return 0
    provide = getattr(module, "all_translators", None)
    if provide is None:
        return 0
    count = 0
    for translator in provide():
        register_translator(translator)
        count += 1
    return count


def check_ticket(
    draft: CampaignDraft,
    *,
    platform: str,
    campaign_name: str,
    taxonomy: Taxonomy,
    today: date,
) -> list[QaProblem]:
    """Every problem that stops ``draft`` from being deployed to ``platform``."""
    problems: list[QaProblem] = []
    for field, name in (("campaign.name", campaign_name), ("deployed_name", draft.campaign_name)):
        problems += [
            QaProblem(field, f"taxonomy {taxonomy.version}: {v.field} {v.reason}")
            for v in taxonomy.violations(name)
        ]
    if draft.budget <= Decimal(0):
        problems.append(QaProblem("campaign.budget", "must be greater than zero"))
    if draft.start_date and draft.end_date and draft.end_date < draft.start_date:
        problems.append(QaProblem("end_date", "is before start_date"))
    if draft.end_date and draft.end_date < today:
        problems.append(QaProblem("end_date", f"{draft.end_date} has passed"))
    translator = translator_for(platform)
    if translator is None:
        problems.append(
            QaProblem("channel.platform_name", f"no translator builds payloads for {platform!r}")
        )
        return problems
    try:
        problems += translator.validate(draft)
    except Exception as exc:  # a translator's bug is this ticket's QA failure, not a 500
        log.exception("translator %s failed to validate a draft", platform)
        problems.append(QaProblem("payload_config", f"the {platform} translator failed: {exc}"))
    return problems

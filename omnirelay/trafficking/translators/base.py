"""The contract every platform translator keeps: pure functions from a ticket's campaign
draft to the platform's campaign-create payload, and the QA problems that stop it.

A translator reads nothing and sends nothing; the deploy sends what it builds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar


@dataclass(frozen=True)
class CampaignDraft:
    """What a ticket asks a platform to create."""

    ticket_id: str
    campaign_id: str
    campaign_name: str  # the name deployed: the taxonomy name with the ticket's channel
    budget: Decimal  # in major units of ``currency``
    currency: str  # ISO 4217, upper case
    request_type: str  # the ticket's request type (e.g. CREATE_CAMPAIGN)
    payload_config: Mapping[str, Any] = field(default_factory=dict)  # platform settings
    start_date: date | None = None
    end_date: date | None = None
    # The ad account the campaign is created in, when known (the deploy sets it from the
    # platform credentials): TikTok, Snapchat and Pinterest carry it in the create body
    # itself, so their ``build`` needs it; QA, which runs without credentials, does not.
    account_id: str | None = None


@dataclass(frozen=True)
class QaProblem:
    """One reason a draft cannot be deployed: the field (a path such as
    ``payload_config.objective``) and what is wrong with it."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class TranslationError(ValueError):
    def __init__(self, problems: list[QaProblem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


class Translator(ABC):
    platform: ClassVar[str]  # the channel's platform_name, upper case: META, TIKTOK, ...
    documentation: ClassVar[str]  # the platform documentation the payload follows

    @abstractmethod
    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        """Every problem with the draft for this platform (empty: it can be deployed)."""

    @abstractmethod
    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        """The campaign-create body; raises ``TranslationError`` when ``validate`` finds
        problems."""

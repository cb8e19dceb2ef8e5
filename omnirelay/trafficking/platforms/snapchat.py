"""Snapchat Marketing API campaign deploy: create, and look up by name after a retry.

Documentation facts relied on (developers.snap.com Campaigns and API Patterns pages, via
the search tool):

* Create: ``POST https://adsapi.snapchat.com/v1/adaccounts/{ad_account_id}/campaigns``,
  ``Authorization: Bearer``; the answer ``{"request_status": "SUCCESS", "campaigns":
  [{"sub_request_status": "SUCCESS", "campaign": {"id", ...}}]}``. An error is
  ``request_status: "ERROR"`` with ``debug_message`` / ``display_message`` /
  ``error_code`` (per entity: ``sub_request_status: "ERROR"`` and
  ``sub_request_error_reason``), usually HTTP 400; rate limits answer 429.
* No idempotency key and no name filter: the lookup lists ``GET .../campaigns?limit=1000``
  (limit 50 to 1000) and follows ``paging.next_link`` (its ``cursor`` parameter, rebuilt
  on our base URL so a sandbox or proxy keeps being used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlparse

from omnirelay.destinations.base import HttpResult
from omnirelay.trafficking.platforms.base import (
    CampaignClient,
    Done,
    PlatformCredentials,
    Step,
    StepOutcome,
    Verdict,
    by_status,
    failed,
    lookup_then_create,
    refused,
)
from omnirelay.trafficking.translators.base import CampaignDraft, TranslationError
from omnirelay.trafficking.translators.snapchat import SnapchatCampaignTranslator

SNAPCHAT_ADS_BASE_URL = "https://adsapi.snapchat.com"
PAGE_SIZE = 1000


class SnapchatCampaignClient(CampaignClient):
    platform: ClassVar[str] = "SNAPCHAT"
    default_base_url: ClassVar[str] = SNAPCHAT_ADS_BASE_URL
    translator = SnapchatCampaignTranslator()

    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        if not creds.account_id or not creds.access_token:
            return refused("snapchat credentials need an ad account id and an access token")
        try:
            body = self.translator.build(self.with_account(draft, creds))
        except TranslationError as exc:
            return refused(exc)
        edge = f"{creds.base(SNAPCHAT_ADS_BASE_URL)}/v1/adaccounts/{creds.account_id}/campaigns"

        def lookup(cursor: str | None) -> Step:
            query: dict[str, Any] = {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            request = self.request(creds, "GET", f"{edge}?{urlencode(query)}")
            return Step("lookup", request, target_name=draft.campaign_name)

        return lookup_then_create(
            outcomes,
            retried,
            lookup,
            lambda: Step("create", self.request(creds, "POST", edge, body)),
        )

    def classify(self, step: Step, result: HttpResult) -> StepOutcome:
        shared = by_status(step.name, result)
        if shared is not None:
            return shared
        answer = result.json()
        if (
            result.status_code != 200
            or not isinstance(answer, dict)
            or answer.get("request_status") != "SUCCESS"
        ):
            return failed(step.name, result)
        entries = [e for e in answer.get("campaigns") or [] if isinstance(e, dict)]
        if step.name == "create":
            entry = entries[0] if entries else {}
            campaign = entry.get("campaign") or {}
            if entry.get("sub_request_status") != "SUCCESS" or not campaign.get("id"):
                return failed(step.name, result)
            return StepOutcome(step.name, Verdict.CREATED, platform_id=str(campaign["id"]))
        for entry in entries:
            campaign = entry.get("campaign") or {}
            if campaign.get("name") == step.target_name and campaign.get("status") != "DELETED":
                return StepOutcome(step.name, Verdict.EXISTS, platform_id=str(campaign.get("id")))
        next_link = (answer.get("paging") or {}).get("next_link")
        cursor = parse_qs(urlparse(next_link).query).get("cursor", [None])[0] if next_link else None
        return StepOutcome(step.name, Verdict.CONTINUE, data={"cursor": cursor})

"""Pinterest API v5 campaign deploy: create, and look up by name after a retry.

Documentation facts relied on (Pinterest's v5 reference as generated into the official
pinterest-python-generated-api-client ``CampaignsApi``, via the search tool):

* Create: ``POST https://api.pinterest.com/v5/ad_accounts/{ad_account_id}/campaigns``
  with an array of campaigns, ``Authorization: Bearer``; the answer
  ``CampaignCreateResponse`` is ``{"items": [{"data": {campaign, "id"}, "exceptions":
  [{"code", "message"}]}]}``, one item per campaign sent (a refused campaign comes back
  with exceptions and no data). Errors otherwise are ``{"code", "message"}`` with a 4xx;
  rate limits answer 429.
* No idempotency key and no name filter: the lookup lists ``GET .../campaigns?
  page_size=250`` (at most 250) and follows the answer's ``bookmark``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

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
from omnirelay.trafficking.translators.pinterest import PinterestCampaignTranslator

PINTEREST_BASE_URL = "https://api.pinterest.com"
PAGE_SIZE = 250


class PinterestCampaignClient(CampaignClient):
    platform: ClassVar[str] = "PINTEREST"
    default_base_url: ClassVar[str] = PINTEREST_BASE_URL
    translator = PinterestCampaignTranslator()

    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        if not creds.account_id or not creds.access_token:
            return refused("pinterest credentials need an ad account id and an access token")
        try:
            body = self.translator.request_body(self.with_account(draft, creds))
        except TranslationError as exc:
            return refused(exc)
        edge = f"{creds.base(PINTEREST_BASE_URL)}/v5/ad_accounts/{creds.account_id}/campaigns"

        def lookup(cursor: str | None) -> Step:
            query: dict[str, Any] = {"page_size": PAGE_SIZE} | (
                {"bookmark": cursor} if cursor else {}
            )
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
        if result.status_code != 200 or not isinstance(answer, dict):
            return failed(step.name, result)
        items = [item for item in answer.get("items") or [] if isinstance(item, dict)]
        if step.name == "create":
            item = items[0] if items else {}
            data = item.get("data") or {}
            if item.get("exceptions") or not data.get("id"):
                return failed(step.name, result)
            return StepOutcome(step.name, Verdict.CREATED, platform_id=str(data["id"]))
        for campaign in items:
            if campaign.get("name") == step.target_name:
                return StepOutcome(step.name, Verdict.EXISTS, platform_id=str(campaign.get("id")))
        return StepOutcome(step.name, Verdict.CONTINUE, data={"cursor": answer.get("bookmark")})

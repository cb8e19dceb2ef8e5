"""TikTok Business API campaign deploy: create with an idempotency key.

Documentation facts relied on (via the search tool; TikTok's v1.3 "Create a campaign" and
"Get campaigns" as mirrored by the tiktok-business-api-sdk and bububa/tiktok-business):

* Create: ``POST https://business-api.tiktok.com/open_api/v1.3/campaign/create/``, the
  token in the ``Access-Token`` header. The body's ``request_id`` makes the call
  idempotent ("if you retry with the same request ID only one request succeeds"); the
  translator derives it from the ticket, so every retry sends the same one.
* Answers are HTTP 200 ``{"code", "message", "request_id", "data"}``: ``code`` 0 with
  ``data.campaign_id`` is success. Non-zero codes (Appendix - Return Codes): 40100 is the
  QPS/QPM rate limit (retried after a pause), 40700 and 5xxxx are transient system errors
  (retried with backoff); every other code (40001 permission, 40002 parameter, ...) is a
  refusal.
* TikTok does not say what a repeated ``request_id`` answers after the first success, so
  a retry also looks the campaign up first: ``GET .../campaign/get/?advertiser_id&
  filtering={"campaign_name": ...}&page&page_size`` ("campaign_name supports fuzzy
  matching", so names are compared exactly here; ``data.page_info.total_page`` bounds the
  pages).
"""

from __future__ import annotations

import json
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
    api_error,
    by_status,
    failed,
    lookup_then_create,
    refused,
)
from omnirelay.trafficking.translators.base import CampaignDraft, TranslationError
from omnirelay.trafficking.translators.tiktok import TikTokCampaignTranslator

TIKTOK_BASE_URL = "https://business-api.tiktok.com"
RATE_LIMITED = 40100
TRANSIENT = 40700
PAGE_SIZE = 1000
RATE_LIMIT_PAUSE = 60.0  # TikTok's limits are per second and per minute


class TikTokCampaignClient(CampaignClient):
    platform: ClassVar[str] = "TIKTOK"
    default_base_url: ClassVar[str] = TIKTOK_BASE_URL
    translator = TikTokCampaignTranslator()

    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        if not creds.account_id or not creds.access_token:
            return refused("tiktok credentials need an advertiser id and an access token")
        try:
            body = self.translator.build(self.with_account(draft, creds))
        except TranslationError as exc:
            return refused(exc)
        api = f"{creds.base(TIKTOK_BASE_URL)}/open_api/v1.3/campaign"
        headers = {"Access-Token": creds.access_token}

        def lookup(cursor: str | None) -> Step:
            query: dict[str, Any] = {
                "advertiser_id": creds.account_id,
                "filtering": json.dumps({"campaign_name": draft.campaign_name}),
                "page": int(cursor or 1),
                "page_size": PAGE_SIZE,
            }
            request = self._request(creds, "GET", f"{api}/get/?{urlencode(query)}", None, headers)
            return Step("lookup", request, target_name=draft.campaign_name)

        def create() -> Step:
            return Step("create", self._request(creds, "POST", f"{api}/create/", body, headers))

        return lookup_then_create(outcomes, retried, lookup, create)

    def _request(
        self, creds: PlatformCredentials, method: str, url: str, body: Any, headers: dict[str, str]
    ) -> Any:
        request = self.request(creds, method, url, body, headers)
        request.headers.pop("Authorization", None)  # TikTok reads Access-Token only
        return request

    def classify(self, step: Step, result: HttpResult) -> StepOutcome:
        shared = by_status(step.name, result)
        if shared is not None:
            return shared
        answer = result.json()
        if result.status_code != 200 or not isinstance(answer, dict):
            return failed(step.name, result)
        code = answer.get("code")
        if code == RATE_LIMITED:
            return StepOutcome(
                step.name, Verdict.THROTTLED, retry_after=RATE_LIMIT_PAUSE, reason=api_error(result)
            )
        if code == TRANSIENT or (isinstance(code, int) and 50000 <= code < 60000):
            return StepOutcome(step.name, Verdict.BACKOFF, reason=api_error(result))
        if code != 0:
            return failed(step.name, result)
        data = answer.get("data") or {}
        if step.name == "create":
            campaign_id = data.get("campaign_id")
            if not campaign_id:
                return failed(step.name, result)
            return StepOutcome(step.name, Verdict.CREATED, platform_id=str(campaign_id))
        for campaign in data.get("list") or []:
            if isinstance(campaign, dict) and campaign.get("campaign_name") == step.target_name:
                found = str(campaign.get("campaign_id"))
                return StepOutcome(step.name, Verdict.EXISTS, platform_id=found)
        page_info = data.get("page_info") or {}
        page, total = page_info.get("page", 1), page_info.get("total_page", 1)
        more = isinstance(page, int) and isinstance(total, int) and page < total
        return StepOutcome(
            step.name, Verdict.CONTINUE, data={"cursor": str(page + 1) if more else None}
        )

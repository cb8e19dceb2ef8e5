"""Meta Marketing API campaign deploy: create, and look up by name after a retry.

Documentation facts relied on (stored developers.facebook.com pages, via the search tool):

* Create: ``POST https://graph.facebook.com/{version}/act_{ad_account_id}/campaigns``, the
  answer ``{"id": "<campaign id>"}``. Meta has no idempotency key for this edge and allows
  duplicate names, so a retry first reads ``GET .../act_{id}/campaigns?fields=id,name&
  filtering=[{"field":"name","operator":"EQUAL","value":...}]`` (paged by
  ``paging.cursors.after`` while ``paging.next`` is present) and compares names exactly.
* The token goes in ``Authorization: Bearer`` (Graph accepts it there as well as in the
  ``access_token`` parameter), so it never appears in a URL.
* Errors (graph-api/guides/error-handling, marketing-api/overview/rate-limiting): HTTP 400
  ``{"error": {message, type, code, error_subcode, is_transient, fbtrace_id}}``. Throttling
  comes as code 4 (application), 17 (user), 32 (page), 613 (calls within a period), 80000
  to 80014 (business use case, 80004 for ads management); the
  ``X-Business-Use-Case-Usage`` header's ``estimated_time_to_regain_access`` (minutes)
  says how long to wait. Codes 1, 2 and ``is_transient`` are temporary; the rest are
  permanent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

from omnirelay.destinations.base import HttpResult, parse_retry_after
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
from omnirelay.trafficking.translators.meta import MetaCampaignTranslator

GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
THROTTLE_CODES = frozenset({4, 17, 32, 613}) | frozenset(range(80000, 80015))
TEMPORARY_CODES = frozenset({1, 2})
PAGE_SIZE = 100


class MetaCampaignClient(CampaignClient):
    platform: ClassVar[str] = "META"
    default_base_url: ClassVar[str] = GRAPH_BASE_URL
    translator = MetaCampaignTranslator()

    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        try:
            body = self.translator.build(draft)
        except TranslationError as exc:
            return refused(exc)
        account = creds.account_id.removeprefix("act_")
        if not account.isdigit() or not creds.access_token:
            return refused("meta credentials need a numeric ad account id and an access token")
        edge = f"{creds.base(GRAPH_BASE_URL)}/{creds.api_version or DEFAULT_API_VERSION}"
        edge += f"/act_{account}/campaigns"

        def lookup(cursor: str | None) -> Step:
            query: dict[str, Any] = {
                "fields": "id,name",
                "filtering": json.dumps(
                    [{"field": "name", "operator": "EQUAL", "value": draft.campaign_name}]
                ),
                "limit": PAGE_SIZE,
            }
            if cursor:
                query["after"] = cursor
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
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict) or result.status_code != 200 or not isinstance(answer, dict):
            return self._error(step.name, result, error if isinstance(error, dict) else {})
        if step.name == "create":
            campaign_id = answer.get("id")
            if not campaign_id:
                return failed(step.name, result)
            return StepOutcome(step.name, Verdict.CREATED, platform_id=str(campaign_id))
        for campaign in answer.get("data") or []:
            if isinstance(campaign, dict) and campaign.get("name") == step.target_name:
                return StepOutcome(step.name, Verdict.EXISTS, platform_id=str(campaign.get("id")))
        paging = answer.get("paging") or {}
        cursor = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
        return StepOutcome(step.name, Verdict.CONTINUE, data={"cursor": cursor})

    def _error(self, step: str, result: HttpResult, error: dict[str, Any]) -> StepOutcome:
        code = error.get("code")
        if code in THROTTLE_CODES:
            wait = parse_retry_after(result.headers) or regain_access_seconds(result.headers)
            return StepOutcome(step, Verdict.THROTTLED, retry_after=wait, reason=api_error(result))
        if code in TEMPORARY_CODES or error.get("is_transient") is True:
            return StepOutcome(step, Verdict.BACKOFF, reason=api_error(result))
        return failed(step, result)


def regain_access_seconds(headers: Any) -> float | None:
    """The longest ``estimated_time_to_regain_access`` (minutes) in Meta's usage header."""
    raw = next((v for k, v in headers.items() if k.lower() == "x-business-use-case-usage"), None)
    try:
        usage = json.loads(raw) if raw else None
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    known = [float(m) for m in minutes if isinstance(m, int | float) and m > 0]
    return max(known) * 60 if known else None

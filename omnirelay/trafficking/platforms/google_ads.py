"""Google Ads API (REST) campaign deploy: a budget, then the campaign referencing it.

Documentation facts relied on (developers.google.com/google-ads/api/rest: examples,
common/mutate, common/search, authorization headers; via the search tool):

* Every call carries ``Authorization: Bearer <OAuth token>``, ``developer-token`` and,
  when a manager account acts, ``login-customer-id`` (digits only).
* ``POST /{version}/customers/{customer_id}/campaignBudgets:mutate`` answers
  ``{"results": [{"resourceName": "customers/{id}/campaignBudgets/{budget_id}"}]}``;
  ``POST .../campaigns:mutate`` answers the campaign's resource name
  ``customers/{id}/campaigns/{campaign_id}`` the same way.
* ``POST .../googleAds:search`` with a GAQL ``query`` answers ``{"results": [{"campaign":
  {"resourceName", "id", "name"}}]}``; used to look the campaign (and an orphan budget
  left by an interrupted attempt) up by exact name, since mutates take no idempotency key.
* Errors: ``{"error": {"code", "message", "status", "details": [{"errors": [{"errorCode":
  {"<category>": "<REASON>"}, "message"}]}]}}``. Campaign names are unique in an account
  (``campaignError: DUPLICATE_CAMPAIGN_NAME``) and so are budget names
  (``campaignBudgetError: DUPLICATE_NAME``): either means an earlier attempt got through,
  and the step sequence looks it up instead of failing. ``quotaError`` RESOURCE_EXHAUSTED
  / RESOURCE_TEMPORARILY_EXHAUSTED (HTTP 429) is a throttle; 5xx and ``internalError``
  are transient.

Steps: ``lookup`` (after a retry) -> ``budget_lookup`` (after a retry) -> ``budget`` ->
``create``; each step's ``data`` carries the budget's resource name to the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

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
    last_final,
    refused,
)
from omnirelay.trafficking.translators.base import CampaignDraft, TranslationError
from omnirelay.trafficking.translators.google_ads import (
    GoogleAdsCampaignTranslator,
    budget_name,
)

GOOGLE_ADS_BASE_URL = "https://googleads.googleapis.com"
DEFAULT_API_VERSION = "v24"
DUPLICATES = {
    ("campaignError", "DUPLICATE_CAMPAIGN_NAME"),
    ("campaignBudgetError", "DUPLICATE_NAME"),
}
QUOTA = {"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"}


def gaql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class GoogleAdsCampaignClient(CampaignClient):
    platform: ClassVar[str] = "GOOGLE_ADS"
    default_base_url: ClassVar[str] = GOOGLE_ADS_BASE_URL
    translator = GoogleAdsCampaignTranslator()

    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        customer = creds.account_id.replace("-", "")
        if not customer.isdigit() or not creds.access_token or not creds.developer_token:
            return refused(
                "google ads credentials need a customer id, an access token and a developer token"
            )
        try:
            self.translator.build(draft)
        except TranslationError as exc:
            return refused(exc)
        final = last_final(outcomes)
        if final is not None:
            return final
        root = f"{creds.base(GOOGLE_ADS_BASE_URL)}/{creds.api_version or DEFAULT_API_VERSION}"
        root += f"/customers/{customer}"
        headers = {"developer-token": creds.developer_token}
        if creds.login_customer_id:
            headers["login-customer-id"] = creds.login_customer_id.replace("-", "")

        def post(name: str, path: str, body: Any, target: str | None = None) -> Step:
            request = self.request(creds, "POST", f"{root}/{path}", body, headers)
            return Step(name, request, target_name=target)

        def search(name: str, query: str, target: str) -> Step:
            return post(name, "googleAds:search", {"query": query}, target)

        campaign_search = (
            "SELECT campaign.resource_name, campaign.id, campaign.name FROM campaign "
            f"WHERE campaign.name = {gaql_string(draft.campaign_name)} "
            "AND campaign.status != 'REMOVED'"
        )
        budget = budget_name(draft.campaign_name)
        budget_search = (
            "SELECT campaign_budget.resource_name, campaign_budget.name FROM campaign_budget "
            f"WHERE campaign_budget.name = {gaql_string(budget)} "
            "AND campaign_budget.status != 'REMOVED'"
        )
        if _needs("lookup", "create", outcomes, retried):
            return search("lookup", campaign_search, draft.campaign_name)
        if _duplicate("create", outcomes):
            return refused("DUPLICATE_CAMPAIGN_NAME, yet no campaign of that name was found")
        resource = next((o.data["budget"] for o in outcomes if o.data.get("budget")), None)
        if resource is None:
            if _needs("budget_lookup", "budget", outcomes, retried):
                return search("budget_lookup", budget_search, budget)
            if any(o.step == "budget" for o in outcomes):
                return refused(
                    "DUPLICATE_NAME for the budget, yet no budget of that name was found"
                )
            return post("budget", "campaignBudgets:mutate", self.translator.budget_create(draft))
        body = self.translator.campaign_create(draft, str(resource))
        return post("create", "campaigns:mutate", body)

    def classify(self, step: Step, result: HttpResult) -> StepOutcome:
        shared = by_status(step.name, result)
        if shared is not None:
            return shared
        answer = result.json()
        if result.status_code != 200 or not isinstance(answer, dict):
            codes = set(_error_codes(answer))
            if codes & DUPLICATES:
                return StepOutcome(step.name, Verdict.CONTINUE, data={"duplicate": True})
            if {reason for category, reason in codes if category == "quotaError"} & QUOTA:
                return StepOutcome(step.name, Verdict.THROTTLED, reason=api_error(result))
            if any(category == "internalError" for category, _ in codes):
                return StepOutcome(step.name, Verdict.BACKOFF, reason=api_error(result))
            return failed(step.name, result)
        results = [r for r in answer.get("results") or [] if isinstance(r, dict)]
        if step.name in ("lookup", "budget_lookup"):
            key = "campaign" if step.name == "lookup" else "campaignBudget"
            for row in results:
                found = row.get(key) or {}
                if found.get("name") != step.target_name or not found.get("resourceName"):
                    continue
                if step.name == "budget_lookup":
                    return StepOutcome(
                        step.name, Verdict.CONTINUE, data={"budget": found["resourceName"]}
                    )
                return StepOutcome(
                    step.name, Verdict.EXISTS, platform_id=_last_id(found["resourceName"])
                )
            return StepOutcome(step.name, Verdict.CONTINUE)
        resource = results[0].get("resourceName") if results else None
        if not resource:
            return failed(step.name, result)
        if step.name == "budget":
            return StepOutcome(step.name, Verdict.CONTINUE, data={"budget": resource})
        return StepOutcome(step.name, Verdict.CREATED, platform_id=_last_id(resource))


def _needs(lookup: str, mutate: str, outcomes: Sequence[StepOutcome], retried: bool) -> bool:
    """Look up when retried and not yet looked up, or after the mutate said duplicate and
    no lookup has followed it."""
    steps = [o.step for o in outcomes]
    if retried and lookup not in steps:
        return True
    if not _duplicate(mutate, outcomes):
        return False
    last_duplicate = max(i for i, o in enumerate(outcomes) if o.step == mutate)
    return lookup not in steps[last_duplicate:]


def _duplicate(mutate: str, outcomes: Sequence[StepOutcome]) -> bool:
    return any(o.step == mutate and o.data.get("duplicate") for o in outcomes)


def _last_id(resource_name: str) -> str:
    return resource_name.rsplit("/", 1)[-1]


def _error_codes(answer: Any) -> Iterator[tuple[str, str]]:
    error = answer.get("error") if isinstance(answer, dict) else None
    for detail in (error or {}).get("details") or []:
        for item in (detail or {}).get("errors") or []:
            for category, reason in ((item or {}).get("errorCode") or {}).items():
                yield str(category), str(reason)

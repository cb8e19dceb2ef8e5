"""The contract of a platform deploy client: the requests that create one campaign, step by
step, and what each answer means.

Pure like ``omnirelay.destinations``: a client builds ``PreparedRequest`` values and reads
``HttpResult`` values; it never sends. A deploy is a short sequence of steps (look the
campaign up by name, create its budget, create it), each step's outcome fed into the next:

    outcomes = []
    while isinstance(step := client.next_step(draft, creds, outcomes, retried), Step):
        outcomes.append(client.classify(step, await send(step.request)))
    step.outcome  # Done: created / exists / throttled / backoff / failed

The deploy kind runs that loop inside one attempt, one request of the engine per step;
``Done.delivery_outcome`` says what the engine does next. ``retried`` is true when an
earlier attempt may have reached the platform: then a client without an idempotency key
looks the campaign up by its exact name first. The deploy kind always says so: a worker
killed after the platform created the campaign records no attempt, and a redeploy after a
failure is a new task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar

from omnirelay.destinations.base import (
    DeliveryOutcome,
    HttpResult,
    Outcome,
    PreparedRequest,
    parse_retry_after,
)
from omnirelay.trafficking.translators.base import CampaignDraft, TranslationError

MAX_STEPS = 40  # lookups page through an account; past this many pages something is wrong


@dataclass(frozen=True)
class PlatformCredentials:
    """Where and as whom to deploy: the ad account (advertiser id, customer id) and the
    token; ``base_url`` points a client at the sandbox or a proxy."""

    account_id: str
    access_token: str = field(repr=False)
    base_url: str | None = None
    api_version: str | None = None
    developer_token: str | None = field(default=None, repr=False)  # Google Ads
    login_customer_id: str | None = None  # Google Ads: the manager account acting

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PlatformCredentials:
        """From a decrypted vault entry (keys as the dataclass fields; ``advertiser_id``,
        ``ad_account_id`` and ``customer_id`` are read as ``account_id``)."""
        account = next(
            (
                str(values[key])
                for key in ("account_id", "advertiser_id", "ad_account_id", "customer_id")
                if values.get(key)
            ),
            "",
        )
        optional = ("base_url", "api_version", "developer_token", "login_customer_id")
        return cls(
            account_id=account,
            access_token=str(values.get("access_token") or ""),
            **{key: str(values[key]) for key in optional if values.get(key)},
        )

    @property
    def secrets(self) -> list[str]:
        """Every secret value a request may carry, for the engine's redaction."""
        return [value for value in (self.access_token, self.developer_token) if value]

    def base(self, default: str) -> str:
        return (self.base_url or default).rstrip("/")


class Verdict(StrEnum):
    CREATED = "created"
    EXISTS = "exists"  # the lookup found the campaign an earlier attempt created
    THROTTLED = "throttled"  # 429 or the platform's rate-limit code: retry after N s
    BACKOFF = "backoff"  # 5xx, network, timeout: retry with exponential backoff
    FAILED = "failed"  # other 4xx or a refusal in the body: retrying cannot help
    CONTINUE = "continue"  # a step done; ``data`` carries what the next step needs


FINAL = frozenset({Verdict.CREATED, Verdict.EXISTS, Verdict.THROTTLED})
FINAL |= {Verdict.BACKOFF, Verdict.FAILED}


@dataclass(frozen=True)
class StepOutcome:
    step: str  # the step's name: "lookup", "create", "budget", ...
    verdict: Verdict
    platform_id: str | None = None
    retry_after: float | None = None
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    request: PreparedRequest
    target_name: str | None = None  # a lookup's exact campaign name


@dataclass(frozen=True)
class Done:
    """The deploy's outcome (the last step's, or a refusal before sending)."""

    outcome: StepOutcome

    def delivery_outcome(self, delivery_id: int) -> DeliveryOutcome:
        o = self.outcome
        if o.verdict in (Verdict.CREATED, Verdict.EXISTS):
            result = {"external_platform_id": o.platform_id, "outcome": o.verdict.value}
            return DeliveryOutcome(delivery_id, Outcome.DELIVERED, result=result)
        if o.verdict in (Verdict.THROTTLED, Verdict.BACKOFF):
            return DeliveryOutcome(delivery_id, Outcome.RETRY, o.reason, o.retry_after)
        return DeliveryOutcome(delivery_id, Outcome.PERMANENT, o.reason)


def api_error(result: HttpResult) -> str:
    """The seed's failure text: ``API Error {status}: {text}``."""
    return f"API Error {result.status_code}: {result.body[:500]}"


def by_status(step: str, result: HttpResult) -> StepOutcome | None:
    """The verdict every platform shares for transport errors, 429 and 5xx (None: the
    client reads the answer itself)."""
    if result.status_code is None:
        verdict = Verdict.FAILED if result.permanent else Verdict.BACKOFF
        return StepOutcome(step, verdict, reason=result.error or "network error")
    status = result.status_code
    if status == 429:
        return StepOutcome(
            step,
            Verdict.THROTTLED,
            retry_after=parse_retry_after(result.headers),
            reason=api_error(result),
        )
    if status >= 500 or status == 408:
        return StepOutcome(step, Verdict.BACKOFF, reason=api_error(result))
    return None


def failed(step: str, result: HttpResult) -> StepOutcome:
    return StepOutcome(step, Verdict.FAILED, reason=api_error(result))


class CampaignClient(ABC):
    platform: ClassVar[str]  # as the translator's: META, TIKTOK, ...
    default_base_url: ClassVar[str]

    @abstractmethod
    def next_step(
        self,
        draft: CampaignDraft,
        creds: PlatformCredentials,
        outcomes: Sequence[StepOutcome],
        retried: bool = False,
    ) -> Step | Done:
        """The next request given the outcomes so far, or the deploy's outcome."""

    @abstractmethod
    def classify(self, step: Step, result: HttpResult) -> StepOutcome:
        """What the answer to ``step`` means."""

    def with_account(self, draft: CampaignDraft, creds: PlatformCredentials) -> CampaignDraft:
        return replace(draft, account_id=creds.account_id)

    def request(
        self,
        creds: PlatformCredentials,
        method: str,
        url: str,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> PreparedRequest:
        """A request carrying the token in the Authorization header, never in the URL."""
        sent = {"Authorization": f"Bearer {creds.access_token}", **(headers or {})}
        if json_body is not None:
            sent["Content-Type"] = "application/json"
        return PreparedRequest(
            method=method,
            url=url,
            delivery_ids=[],
            json_body=json_body,
            headers=sent,
            secrets=creds.secrets,
        )


def refused(error: TranslationError | str) -> Done:
    reason = f"invalid payload: {error}" if isinstance(error, TranslationError) else error
    return Done(StepOutcome("prepare", Verdict.FAILED, reason=reason))


def last_final(outcomes: Sequence[StepOutcome]) -> Done | None:
    if outcomes and outcomes[-1].verdict in FINAL:
        return Done(outcomes[-1])
    if len(outcomes) >= MAX_STEPS:
        return Done(StepOutcome("lookup", Verdict.BACKOFF, reason="too many steps; retry later"))
    return None


def lookup_then_create(
    outcomes: Sequence[StepOutcome],
    retried: bool,
    lookup: Callable[[str | None], Step],
    create: Callable[[], Step],
) -> Step | Done:
    """For a platform without an idempotency key: after a retry, page through the lookup
    (each page's ``data["cursor"]`` leads to the next) before creating again."""
    final = last_final(outcomes)
    if final is not None:
        return final
    if retried:
        lookups = [o for o in outcomes if o.step == "lookup"]
        if not lookups:
            return lookup(None)
        cursor = lookups[-1].data.get("cursor")
        if cursor:
            return lookup(str(cursor))
    return create()

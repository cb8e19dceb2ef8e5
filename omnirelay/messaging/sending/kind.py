"""Message sends as a kind of delivery.

``plan`` reads the send rows of the claimed deliveries, renders each template and picks
the channel's provider (both at send time: an edited template or a provider switched in
the settings applies to what is still queued); a message that cannot be made (a template
error, no recipient) is decided dead there, with its reason code, and nothing is sent.
A batch is the messages of one provider; each message is one request, carrying its
idempotency key, so a retry after a worker died mid-send is not delivered twice.
``settle`` writes each send row's status, provider, rendered text or error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from omnirelay.db import id_in
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.kinds import DeliveryKind, Plan, ReadSession, WorkBatch
from omnirelay.delivery.recording import BatchRecord
from omnirelay.delivery.subjects import settle_events
from omnirelay.delivery.transports import Transport
from omnirelay.destinations.base import (
    DeliveryOutcome,
    HttpResult,
    Outcome,
    Prepared,
    PreparedRequest,
)
from omnirelay.messaging.sending import KIND, RECIPIENT_TRAITS
from omnirelay.messaging.sending.providers import (
    OutboundMessage,
    ProviderSettings,
    Requests,
    check_recipient,
    classify,
)
from omnirelay.messaging.sending.templates import (
    RenderedMessage,
    TemplateRenderer,
    TemplateRenderError,
)
from omnirelay.models import (
    DeliveryStatus,
    MessageDecision,
    MessageSend,
    MessageSendStatus,
    table_of,
)


class ReasonCode:
    """Why a send is dead (``message_sends.error_code``)."""

    TEMPLATE_ERROR = "template_error"
    MISSING_RECIPIENT = "missing_recipient"
    INVALID_RECIPIENT = "invalid_recipient"
    UNKNOWN_CHANNEL = "unknown_channel"
    PROVIDER_REJECTED = "provider_rejected"  # a permanent refusal (4xx, SMTP 5xx)
    PROVIDER_UNAVAILABLE = "provider_unavailable"  # gave up after the retry budget
    NOT_CONFIGURED = "provider_not_configured"


_STATUS = {
    DeliveryStatus.DELIVERED.value: MessageSendStatus.SENT.value,
    DeliveryStatus.PENDING.value: MessageSendStatus.RETRYING.value,
    DeliveryStatus.DEAD.value: MessageSendStatus.DEAD.value,
    DeliveryStatus.SKIPPED.value: MessageSendStatus.SKIPPED.value,
}

_COLUMNS = (
    MessageSend.id,
    MessageSend.decision_id,
    MessageSend.event_id,
    MessageSend.storefront_id,
    MessageSend.user_id,
    MessageSend.rule_name,
    MessageSend.template_name,
    MessageSend.channel,
    MessageSend.recipient,
    MessageSend.idempotency_key,
    MessageSend.context,
    MessageSend.created_at,
)


@dataclass
class SendState:
    """What settling a delivery writes on its send row, as far as planning knows it."""

    send_id: int
    provider: str | None = None
    recipient: str | None = None
    rendered: RenderedMessage | None = None
    error_code: str | None = None


@dataclass
class Planned:
    sends: dict[int, SendState] = field(default_factory=dict)  # by delivery id


@dataclass(frozen=True, kw_only=True)
class MessageBatch(WorkBatch):
    """The messages (``OutboundMessage`` items) of one provider."""


class MessageKind(DeliveryKind):
    name = KIND

    def __init__(
        self, transport: Transport, providers: ProviderSettings, renderer: TemplateRenderer
    ) -> None:
        super().__init__(transport)
        self.providers = providers
        self.renderer = renderer
        self.requests = Requests(providers)

    async def plan(self, deliveries: list[ClaimedDelivery], hint: Any, read: ReadSession) -> Plan:
        refs = {ref for d in deliveries if (ref := _decision_of(d)) is not None}
        sends: dict[int | None, Any] = {}
        if refs:
            async with read() as session:
                rows = await session.execute(
                    select(*_COLUMNS).where(id_in(session, MessageSend.decision_id, refs))
                )
                sends = {row.decision_id: row for row in rows}
        planned = Planned()
        plan = Plan(context=planned)
        by_provider: dict[str, list[OutboundMessage]] = defaultdict(list)
        for delivery in deliveries:
            send = sends.get(_decision_of(delivery))
            if send is None:
                plan.decided[delivery.id] = ("skipped", "the send was deleted")
                continue
            state = planned.sends[delivery.id] = SendState(send.id)
            message = self._message(delivery, send, state)
            if isinstance(message, str):
                plan.decided[delivery.id] = (Outcome.PERMANENT.value, message)
            else:
                by_provider[cast(str, state.provider)].append(message)
        for provider, messages in by_provider.items():
            batch = MessageBatch(provider, messages, self.providers.secrets(provider))
            plan.batches.append(batch)
        return plan

    def _message(self, delivery: ClaimedDelivery, send: Any, state: SendState) -> Any:
        """The message of a send, or why there is none (its reason code on ``state``)."""
        provider = self.providers.channels.get(send.channel)
        if provider is None:
            state.error_code = ReasonCode.UNKNOWN_CHANNEL
            return f"{ReasonCode.UNKNOWN_CHANNEL}: no provider for channel {send.channel!r}"
        state.provider = provider
        recipient = send.recipient
        if recipient is None and send.channel == "alert":
            recipient = self.providers.alert_recipient or None
        state.recipient = recipient
        if recipient is None:
            state.error_code = ReasonCode.MISSING_RECIPIENT
            trait = RECIPIENT_TRAITS.get(send.channel, "recipient")
            return (
                f"{ReasonCode.MISSING_RECIPIENT}: the user's traits have no {trait}, "
                f"so the {send.channel} cannot be sent"
            )
        problem = check_recipient(send.channel, recipient, provider)
        if problem is not None:
            state.error_code = ReasonCode.INVALID_RECIPIENT
            return f"{ReasonCode.INVALID_RECIPIENT}: {problem}"
        if provider == "webhook" and not self.providers.webhook_url:
            state.error_code = ReasonCode.NOT_CONFIGURED
            return f"{ReasonCode.NOT_CONFIGURED}: MESSAGING_WEBHOOK_URL is not set"
        try:
            rendered = self.renderer.render(send.template_name, send.channel, send.context or {})
        except TemplateRenderError as exc:
            state.error_code = ReasonCode.TEMPLATE_ERROR
            return f"{ReasonCode.TEMPLATE_ERROR}: {exc}"
        state.rendered = rendered
        return OutboundMessage(
            delivery_id=delivery.id,
            send_id=send.id,
            decision_id=send.decision_id,
            event_id=send.event_id,
            storefront_id=send.storefront_id,
            user_id=send.user_id,
            rule_name=send.rule_name,
            template_name=send.template_name,
            channel=send.channel,
            recipient=recipient,
            idempotency_key=send.idempotency_key,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            decided_at=send.created_at,
        )

    async def prepare(self, batch: MessageBatch) -> Prepared:
        prepared = Prepared()
        for message in cast(Sequence[OutboundMessage], batch.items):
            prepared.requests.append(self.requests.request(batch.code, message))
        return prepared

    def classify(
        self, batch: MessageBatch, request: PreparedRequest, result: HttpResult
    ) -> list[DeliveryOutcome]:
        return classify(batch.code, request, result)

    def settle(
        self,
        session: Session,
        record: BatchRecord,
        deliveries: list[ClaimedDelivery],
        context: Planned | None,
    ) -> None:
        if context is None:  # planning failed: the deliveries were not tried
            return
        errors = _last_errors(record)
        rows, undelivered = [], []
        for delivery in deliveries:
            state = context.sends.get(delivery.id)
            new = record.state.get(delivery.id)
            if state is None or new is None:
                continue
            status = _STATUS.get(new, MessageSendStatus.QUEUED.value)
            error = errors.get(delivery.id)
            code = state.error_code
            if status == MessageSendStatus.DEAD and code is None:
                gave_up = (error or "").startswith("gave up after")
                code = ReasonCode.PROVIDER_UNAVAILABLE if gave_up else ReasonCode.PROVIDER_REJECTED
            if status == MessageSendStatus.DEAD and (decision_id := _decision_of(delivery)):
                why = f"; the message was not sent: {error or code}"
                undelivered.append({"decision_id": decision_id, "code": code, "why": why})
            rendered = state.rendered
            sent = status == MessageSendStatus.SENT
            rows.append(
                {
                    "send_id": state.send_id,
                    "new_status": status,
                    "new_provider": state.provider,
                    "new_recipient": state.recipient,
                    "new_subject": rendered.subject if rendered else None,
                    "new_body": rendered.body if rendered else None,
                    "new_error_code": None if sent else code,
                    "new_error": None if sent else error,
                    "new_sent_at": record.now if sent else None,
                    "now": record.now,
                }
            )
        if rows:
            table = table_of(MessageSend)
            session.execute(
                update(table)
                .where(table.c.id == bindparam("send_id"))
                .values(
                    status=bindparam("new_status"),
                    provider=bindparam("new_provider"),
                    recipient=bindparam("new_recipient"),
                    subject=bindparam("new_subject"),
                    body=bindparam("new_body"),
                    error_code=bindparam("new_error_code"),
                    error=bindparam("new_error"),
                    sent_at=bindparam("new_sent_at"),
                    updated_at=bindparam("now"),
                ),
                rows,
            )
        if undelivered:  # the audit says why the user did not get the message
            decisions = table_of(MessageDecision)
            session.execute(
                update(decisions)
                .where(decisions.c.id == bindparam("decision_id"))
                .values(
                    reason_code=bindparam("code"),
                    reason=decisions.c.reason.concat(bindparam("why")),
                ),
                undelivered,
            )
        settle_events(session, deliveries, record.state, record.now, routed_only=True)


def _decision_of(delivery: ClaimedDelivery) -> int | None:
    ref = delivery.subject_ref
    return int(ref) if ref and ref.isdigit() else None


def _last_errors(record: BatchRecord) -> Mapping[int, str | None]:
    """Each delivery's error as the record writes it (scrubbed)."""
    errors: dict[int, str | None] = {}
    for key, ids in record.changes.items():
        values = dict(key)
        if "last_error" in values:
            errors.update(dict.fromkeys(ids, values["last_error"]))
    return errors

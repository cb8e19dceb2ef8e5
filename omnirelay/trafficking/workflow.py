"""The ticket workflow: which status may follow which, and who moves it there.

```
DRAFT ──► QA_TESTING ──► READY_FOR_API ──► TRAFFICKED_SUCCESS
  ▲            │   ▲           │  └──────► FAILED
  │            ▼   │           │             │
  └──────── QA_FAILED ◄────────┘ (to DRAFT)  └──► DRAFT | QA_TESTING
```

QA decides what follows QA_TESTING (QA_FAILED or READY_FOR_API) in the same transaction,
so no ticket rests in QA_TESTING and no client can pick QA's answer. A ticket that is
READY_FOR_API can be pulled back to DRAFT, recorded as trafficked by hand (with the
platform's id) or marked FAILED; the deploy moves it the same way. TRAFFICKED_SUCCESS is
final: the platform holds the campaign.
"""

from __future__ import annotations

from omnirelay.models import TicketStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.QA_TESTING}),
    S.QA_TESTING: frozenset({S.QA_FAILED, S.READY_FOR_API}),
    S.QA_FAILED: frozenset({S.DRAFT, S.QA_TESTING}),
    S.READY_FOR_API: frozenset({S.DRAFT, S.TRAFFICKED_SUCCESS, S.FAILED}),
    S.FAILED: frozenset({S.DRAFT, S.QA_TESTING}),
    S.TRAFFICKED_SUCCESS: frozenset(),
}
# the statuses only QA sets
DECIDED_BY_QA = frozenset({S.QA_FAILED, S.READY_FOR_API})
# where a ticket's content (payload, request type, dates) may still change
EDITABLE = frozenset({S.DRAFT, S.QA_FAILED, S.FAILED})
_ORDER = list(S)


def allowed_next(status: str) -> list[str]:
    """The statuses a client may ask for after ``status``, in workflow order."""
    options = TRANSITIONS[S(status)]
    if S(status) != S.QA_TESTING:
        options = options - DECIDED_BY_QA
    return [s.value for s in _ORDER if s in options]


def may_move(current: str, target: str) -> bool:
    return target in allowed_next(current)

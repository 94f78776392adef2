"""Approvals as flows use them: a request that is idempotent, and a decision that wakes the flow.

A flow that must wait for a person (an invoice above the amount that needs approval, a
back-billing adjustment) calls `FlowApprovals.request` with a key of its own choosing; the
request's id is derived from the flow and that key, so a retried or replayed delivery finds
the request it filed before instead of filing a second one. When an operator decides (admin
API, `mediator approvals`, or `Mediator.decide_approval`), the `Mediator` journals the decision
as an envelope of kind `decision_kind(flow)` keyed by the request's entity, and the flow,
which lists that kind, resumes its entity in journal order. On start, decisions of the last
`SWEEP_SECONDS` are journaled again (their idempotency keys make that a no-op when they
were), so a crash between a decision and its envelope wakes the flow anyway.
"""

from __future__ import annotations

import datetime
import hashlib

import msgspec

from mediator.codecs import Envelope, new_id
from mediator.journal.operator import Approval, OperatorStore

__all__ = [
    "SWEEP_SECONDS",
    "FlowApprovals",
    "approval_id",
    "decision_envelope",
    "decision_kind",
    "decode_decision",
]

#: How far back, on start, decided approvals are journaled again as decisions.
SWEEP_SECONDS = 30 * 86_400.0

_decode = msgspec.json.Decoder(Approval).decode
_encode = msgspec.json.Encoder().encode


def decision_kind(flow: str) -> str:
    """The journal kind of decisions on `flow`'s requests (``<flow>.approval.decided``)."""
    return f"{flow}.approval.decided"


def approval_id(flow: str, key: str) -> str:
    """The id of `flow`'s request `key`: 32 hex digits, the same on every call."""
    return hashlib.sha256(f"{flow}\0{key}".encode()).hexdigest()[:32]


def decision_envelope(approval: Approval) -> Envelope:
    """The envelope that tells `approval.flow` its request was decided."""
    decided_at = approval.decided_at if approval.decided_at is not None else 0.0
    return Envelope(
        id=new_id(),
        key=approval.entity,
        kind=decision_kind(approval.flow),
        source="mediator",
        idempotency_key=f"approval:{approval.id}:{approval.state}",
        occurred_at=datetime.datetime.fromtimestamp(decided_at, datetime.UTC),
        payload=msgspec.Raw(_encode(approval)),
    )


def decode_decision(envelope: Envelope) -> Approval:
    """The decided approval an envelope of `decision_kind` carries."""
    return _decode(envelope.payload)


class FlowApprovals:
    """One flow's view of the approvals: file a request (idempotent by key), read it back."""

    def __init__(self, operator: OperatorStore, flow: str) -> None:
        self._operator = operator
        self.flow = flow

    async def request(
        self,
        *,
        entity: str,
        key: str,
        what: str,
        amount: int | None = None,
        currency: str | None = None,
    ) -> Approval:
        """File the request `key` about `entity` (durable on return), or return the one filed
        before with that key, pending or decided. `what` says what waits, for people;
        `amount` is in minor units of `currency`."""
        return await self._operator.request_approval(
            flow=self.flow,
            entity=entity,
            what=what,
            amount=amount,
            currency=currency,
            approval_id=approval_id(self.flow, key),
        )

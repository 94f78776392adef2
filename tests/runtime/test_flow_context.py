"""What a flow's context offers: approvals (a request filed twice is one, its decision wakes the
flow) and follow-ups (what a delivery causes is journaled and delivered at once)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from mediator.actors import Actor
from mediator.codecs import Envelope, new_id
from mediator.config import parse_config
from mediator.journal.operator import AuditRecord
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.runtime.approvals import decision_kind, decode_decision
from mediator.tomlfile import Fail

ASKED = "test.posting.requested"
FOLLOWED = "test.posting.followed"


@dataclasses.dataclass
class Seen:
    """What the flow's actor saw: the requests it filed and the decisions it was told."""

    requested: list[str] = dataclasses.field(default_factory=list)
    decided: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    woken: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class _Posting(Actor[Envelope]):
    def __init__(self, seen: Seen, context: FlowContext) -> None:
        self.seen = seen
        self.context = context

    async def receive(self, message: Envelope) -> object:
        if message.kind == ASKED and message.idempotency_key.startswith("follow:"):
            # what this delivery causes, for another entity: delivered without a restart
            [appended] = await self.context.follow_up(
                [msgspec.structs.replace(message, id=new_id(), key="invoice:in_2",
                                         kind=FOLLOWED, idempotency_key="followed:1")]
            )  # fmt: skip
            self.seen.requested.append(appended.envelope.key)
        elif message.kind == FOLLOWED:
            self.seen.decided.append((message.key, message.kind))
            self.seen.woken.set()
        elif message.kind == ASKED:
            approval = await self.context.approvals.request(
                entity=message.key, key=f"post:{message.key}", what="post the invoice",
                amount=250_000, currency="EUR",
            )  # fmt: skip
            self.seen.requested.append(approval.id)
        else:
            decided = decode_decision(message)
            self.seen.decided.append((decided.id, decided.state))
            self.seen.woken.set()
        return None


@dataclasses.dataclass
class _PostingFlow:
    seen: Seen
    name: str = "posting"
    kinds: frozenset[str] = frozenset({ASKED, FOLLOWED, decision_kind("posting")})
    owner: str = "finance"
    systems: frozenset[str] = frozenset()
    poller_names: frozenset[str] = frozenset()
    delivery_timeout: float = 10.0

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        return _Posting(self.seen, context)

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        return ()


def _asked(number: int, *, prefix: str = "asked") -> Envelope:
    return Envelope(
        id=new_id(), key="invoice:in_1", kind=ASKED, source="test",
        idempotency_key=f"{prefix}:{number}", occurred_at=datetime.datetime.now(datetime.UTC),
        payload=msgspec.Raw(b"{}"),
    )  # fmt: skip


def _mediator(folder: Path, seen: Seen) -> Mediator:
    def factory(options: Mapping[str, object], fail: Fail, /) -> Flow:
        return _PostingFlow(seen)

    text = f'[journal]\npath = "{folder / "journal.sqlite"}"\n\n[flows.posting]\n'
    loaded = parse_config(text, file="mediator.toml", base_dir=folder)
    return Mediator(loaded, flows={"posting": factory}, serve_admin=False)


async def test_a_request_filed_twice_is_one_and_its_decision_wakes_the_flow(
    tmp_path: Path,
) -> None:
    seen = Seen()
    async with _mediator(tmp_path, seen) as mediator:
        await mediator.accept(_asked(1))
        await mediator.accept(_asked(2))  # a second delivery asks again: the same request
        await mediator.wait_idle()
        assert len(seen.requested) == 2
        assert len(set(seen.requested)) == 1
        [pending] = await mediator.reader.approvals(state="pending")
        assert (pending.flow, pending.entity) == ("posting", "invoice:in_1")
        assert pending.amount == 250_000
        await mediator.decide_approval(pending.id, approve=True, reason="ok", by="ana")
        await seen.woken.wait()
        await mediator.wait_idle()
    assert seen.decided == [(pending.id, "approved")]


async def test_a_decision_whose_envelope_was_lost_is_journaled_again_on_start(
    tmp_path: Path,
) -> None:
    seen = Seen()
    async with _mediator(tmp_path, seen) as mediator:
        await mediator.accept(_asked(1))
        await mediator.wait_idle()
        [pending] = await mediator.reader.approvals(state="pending")
        # decided behind the Mediator's back: as if it crashed before journaling the decision
        await mediator._running_operator().decide(
            pending.id, approve=False, reason="too much", audit=_audit(pending.id)
        )
        await mediator.wait_idle()
    assert seen.decided == []
    async with _mediator(tmp_path, seen) as mediator:
        await seen.woken.wait()
        await mediator.wait_idle()
    async with _mediator(tmp_path, seen) as mediator:  # and once only
        await mediator.wait_idle()
    assert seen.decided == [(pending.id, "rejected")]


def _audit(target: str) -> AuditRecord:
    return AuditRecord(who="ana", role="operator", action="reject", target=target, reason="x")


async def test_what_a_delivery_follows_up_with_is_delivered_without_a_restart(
    tmp_path: Path,
) -> None:
    seen = Seen()
    async with _mediator(tmp_path, seen) as mediator:
        await mediator.accept(_asked(1, prefix="follow"))
        await seen.woken.wait()
        await mediator.wait_idle()
    assert seen.requested == ["invoice:in_2"]
    assert seen.decided == [("invoice:in_2", FOLLOWED)]

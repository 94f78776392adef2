"""The dispatcher with real entity actors: done, retry with backoff, dead letters and parking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypedDict, Unpack

import msgspec
import pytest

from mediator.actors import Actor, open_entity_registry, open_supervisor
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import ConnectorUnavailable, DecodeError, RemoteRejected
from mediator.journal import (
    DeadLetterFilter,
    Dispatcher,
    EntryState,
    Journal,
    default_decider,
    open_dispatcher,
)
from mediator.journal.retry_or_dead import Decide
from mediator.policies.retry import RetrySchedule
from mediator.testing import FakeClock
from tests.journal.conftest import Opener
from tests.journal.support import envelope

# Half of each backoff ceiling, every time: 0.25 s, then 0.5 s, 1 s, ...
SCHEDULE = RetrySchedule(initial=0.5, max_attempts=3, random=lambda: 0.5)


class Script:
    """What the entity actors do: fail per idempotency key as told, record what succeeded."""

    def __init__(self) -> None:
        self.failures: dict[str, list[Exception]] = {}
        self.handled: list[tuple[str, int]] = []


class Entity(Actor[Envelope]):
    def __init__(self, script: Script) -> None:
        self.script = script

    async def receive(self, message: Envelope) -> object:
        pending = self.script.failures.get(message.idempotency_key)
        if pending:
            raise pending.pop(0)
        self.script.handled.append((message.idempotency_key, message.attempt))
        return "ok"


class _Options(TypedDict, total=False):
    decide: Decide
    parks: Callable[[str], bool]
    capacity: int
    poison_after: int


@asynccontextmanager
async def running(
    journal: Journal, clock: FakeClock, script: Script, **options: Unpack[_Options]
) -> AsyncIterator[Dispatcher]:
    options.setdefault("decide", default_decider(schedule=SCHEDULE))
    async with (
        open_supervisor(clock=clock) as supervisor,
        open_entity_registry(supervisor, lambda key: Entity(script), idle_timeout=None) as reg,
        open_dispatcher(
            journal, reg.ref_for, clock=clock,
            **options,
        ) as dispatcher,
    ):  # fmt: skip
        yield dispatcher


async def test_delivered_entries_are_done(journal: Journal, clock: FakeClock) -> None:
    script = Script()
    async with running(journal, clock, script) as dispatcher:
        first = await dispatcher.accept(envelope("evt_1"))
        assert (await dispatcher.accept(envelope("evt_1"))).duplicate
        await dispatcher.accept(envelope("evt_2", key="project:P-2"))
        await dispatcher.wait_idle()
    assert sorted(script.handled) == [("evt_1", 1), ("evt_2", 1)]
    done = await journal.get(first.envelope.id)
    assert done is not None
    assert (done.state, done.attempts) == (EntryState.DONE, 1)
    assert await journal.recover() == []
    assert dispatcher.statistics().delivered == 2


async def test_transient_failure_is_retried_after_backoff(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [ConnectorUnavailable("tryton", "503")]
    async with running(journal, clock, script) as dispatcher:
        entry_id = (await dispatcher.accept(envelope("evt_1"))).envelope.id
        later = await dispatcher.accept(envelope("evt_2"))  # same entity: waits behind it
        await dispatcher.wait_settled()
        waiting = await journal.get(entry_id)
        assert waiting is not None
        assert waiting.state is EntryState.RETRY
        assert waiting.due_at == clock.time() + 0.25
        assert waiting.error_class == "ConnectorUnavailable"
        assert [e.id for e in await journal.due(clock.time() + 0.25)] == [entry_id]
        assert script.handled == []

        await clock.advance(0.25)
        await dispatcher.wait_idle()
    assert script.handled == [("evt_1", 2), ("evt_2", 1)]
    assert dispatcher.statistics().retried == 1
    assert [e.state for e in [await journal.get(entry_id), await journal.get(later.envelope.id)]
            if e] == [EntryState.DONE, EntryState.DONE]  # fmt: skip


async def test_retries_run_out_into_a_dead_letter(journal: Journal, clock: FakeClock) -> None:
    script = Script()
    script.failures["evt_1"] = [ConnectorUnavailable("tryton", "503") for _ in range(3)]
    async with running(journal, clock, script) as dispatcher:
        entry_id = (await dispatcher.accept(envelope("evt_1"))).envelope.id
        for delay in (0.25, 0.5):
            await dispatcher.wait_settled()
            await clock.advance(delay)
        await dispatcher.wait_idle()
    dead = await journal.get(entry_id)
    assert dead is not None
    assert (dead.state, dead.attempts, dead.system) == (EntryState.DEAD, 3, "tryton")
    assert dead.reason is not None
    assert dead.reason.startswith("gave up after 3 attempts")


async def test_rejection_parks_the_entity_until_release(journal: Journal, clock: FakeClock) -> None:
    script = Script()
    script.failures["evt_1"] = [DecodeError("harvest", "$.hours", "not a number")]
    async with running(journal, clock, script) as dispatcher:
        dead_id = (await dispatcher.accept(envelope("evt_1", key="invoice:I-1"))).envelope.id
        await dispatcher.wait_idle()
        parked = (await dispatcher.accept(envelope("evt_2", key="invoice:I-1"))).envelope.id
        await dispatcher.accept(envelope("evt_3", key="invoice:I-2"))  # another entity: flows
        await dispatcher.wait_idle()
        assert script.handled == [("evt_3", 1)]
        (letter,) = await journal.list_dead(DeadLetterFilter(entity="invoice:I-1"))
        assert (letter.id, letter.error_class) == (dead_id, "DecodeError")
        assert letter.reason == "DecodeError: harvest payload invalid at $.hours: not a number"
        parked_entry = await journal.get(parked)
        assert parked_entry is not None
        assert parked_entry.state is EntryState.PARKED

        report = await dispatcher.release(dead_id, reason="entered by hand", by="ops:anna")
        assert [e.id for e in report.unparked] == [parked]
        await dispatcher.wait_idle()
    assert script.handled == [("evt_3", 1), ("evt_2", 1)]


async def test_replay_goes_first_then_the_parked_entries(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [RemoteRejected("stripe", 400, "invalid_request_error")]
    async with running(journal, clock, script) as dispatcher:
        await dispatcher.accept(envelope("evt_1", key="invoice:I-1"))
        await dispatcher.wait_idle()
        await dispatcher.accept(envelope("evt_2", key="invoice:I-1"))
        await dispatcher.wait_idle()

        dry = await dispatcher.replay(DeadLetterFilter(entity="invoice:I-1"))
        assert [e.envelope.idempotency_key for e in dry.sent] == ["evt_1"]
        assert script.handled == []  # a dry run sends nothing
        await dispatcher.replay(DeadLetterFilter(entity="invoice:I-1"), dry_run=False)
        await dispatcher.accept(envelope("evt_3", key="invoice:I-1"))  # arrives meanwhile
        await dispatcher.wait_idle()
    assert script.handled == [("evt_1", 1), ("evt_2", 1), ("evt_3", 1)]
    assert await journal.held_keys() == set()


async def test_kinds_that_need_not_wait_pass_a_dead_letter(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [DecodeError("harvest", "$.hours", "not a number")]
    async with running(journal, clock, script, parks=lambda kind: kind != "crm.note.added") as d:
        await d.accept(envelope("evt_1", key="client:C-1"))
        await d.wait_idle()
        await d.accept(envelope("evt_2", key="client:C-1", kind="crm.note.added"))
        await d.accept(envelope("evt_3", key="client:C-1"))
        await d.wait_idle()
    assert script.handled == [("evt_2", 1)]


async def test_open_delivers_what_a_crashed_run_left(opener: Opener, clock: FakeClock) -> None:
    async with opener() as journal:
        stuck = (await journal.append(envelope("evt_1"))).envelope.id
        await journal.mark_in_flight([stuck])
        await journal.append(envelope("evt_2"))
    script = Script()
    async with opener() as journal:
        async with running(journal, clock, script) as dispatcher:
            await dispatcher.wait_idle()
        assert await journal.recover() == []
    assert script.handled == [("evt_1", 2), ("evt_2", 1)]  # the crashed attempt counted


@pytest.mark.parametrize("capacity", [1, 3])
async def test_submit_waits_for_room(journal: Journal, clock: FakeClock, capacity: int) -> None:
    script = Script()
    async with running(journal, clock, script, capacity=capacity) as dispatcher:
        for i in range(6):
            await dispatcher.accept(envelope(f"evt_{i}", key=f"project:P-{i % 2}"))
            assert dispatcher.statistics().pending <= capacity
        await dispatcher.wait_idle()
    assert len(script.handled) == 6


async def test_an_entry_arriving_during_a_release_is_not_parked_for_good(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [DecodeError("harvest", "$.hours", "not a number")]
    async with running(journal, clock, script) as dispatcher:
        dead_id = (await dispatcher.accept(envelope("evt_1", key="invoice:I-1"))).envelope.id
        await dispatcher.wait_idle()
        await dispatcher.accept(envelope("evt_2", key="invoice:I-1"))
        await dispatcher.wait_idle()
        await asyncio.gather(
            dispatcher.release(dead_id, reason="entered by hand", by="ops:anna"),
            dispatcher.accept(envelope("evt_3", key="invoice:I-1")),
        )
        await dispatcher.wait_idle()
    assert script.handled == [("evt_2", 1), ("evt_3", 1)]
    assert await journal.held_keys() == set()


@pytest.mark.parametrize("journaled_first", [False, True])
async def test_an_accept_cancelled_after_journaling_still_delivers_in_order(
    journal: Journal, clock: FakeClock, journaled_first: bool
) -> None:
    script = Script()
    script.failures["evt_0"] = [ConnectorUnavailable("tryton", "503")]
    async with running(journal, clock, script, capacity=1) as dispatcher:
        await dispatcher.accept(envelope("evt_0", key="project:P-0"))  # fills the capacity
        first = envelope("evt_1")
        accepting = asyncio.create_task(dispatcher.accept(first))
        if journaled_first:  # cancelled while it waits for room, not while it is journaled
            while await journal.get(first.id) is None:
                pass
        else:
            await asyncio.sleep(0)  # let it start its append
        accepting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await accepting
        while await journal.get(first.id) is None:  # the append itself was not cancelled
            pass
        await dispatcher.wait_settled()
        await clock.advance(0.25)
        await dispatcher.accept(envelope("evt_2"))  # the same entity, later
        await dispatcher.wait_idle()
    project_1 = [h for h in script.handled if h[0] != "evt_0"]
    assert project_1 == [("evt_1", 1), ("evt_2", 1)]


async def test_a_dead_letter_says_what_failed_last_not_what_was_retried(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [
        ConnectorUnavailable("tryton", "503"),
        RemoteRejected("stripe", 400, "invalid_request_error"),
    ]
    async with running(journal, clock, script) as dispatcher:
        entry_id = (await dispatcher.accept(envelope("evt_1"))).envelope.id
        await dispatcher.wait_settled()
        await clock.advance(0.25)
        await dispatcher.wait_idle()
    dead = await journal.get(entry_id)
    assert dead is not None
    assert (dead.state, dead.error_class) == (EntryState.DEAD, "RemoteRejected")
    assert dead.error is not None
    assert "503" not in dead.error
    assert "400" in dead.error


async def test_an_envelope_reusing_a_journaled_id_does_not_deliver_that_entry_again(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    async with running(journal, clock, script) as dispatcher:
        first = envelope("evt_1")
        await dispatcher.accept(first)
        await dispatcher.wait_idle()
        reused = msgspec.structs.replace(envelope("evt_2"), id=first.id)
        appended = await dispatcher.accept(reused)
        await dispatcher.wait_idle()
    assert appended.duplicate  # nothing of it was journaled: its id is taken
    assert appended.envelope.idempotency_key == "evt_1"
    assert script.handled == [("evt_1", 1)]


async def test_accepting_the_same_envelope_again_delivers_it_once(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    async with running(journal, clock, script) as dispatcher:
        again = envelope("evt_1")
        assert not (await dispatcher.accept(again)).duplicate
        await dispatcher.wait_idle()
        assert (await dispatcher.accept(again)).duplicate  # a caller retrying its accept
        both = await dispatcher.accept_many([envelope("evt_2"), again])
        await dispatcher.wait_idle()
    assert [a.duplicate for a in both] == [False, True]
    assert script.handled == [("evt_1", 1), ("evt_2", 1)]


async def test_a_retry_deadline_ends_retries_that_attempts_do_not_bound(
    journal: Journal, clock: FakeClock
) -> None:
    script = Script()
    script.failures["evt_1"] = [ConnectorUnavailable("tryton", "503") for _ in range(100)]
    # Attempts unbounded and each backoff (at most 1 s) below the deadline: only the time
    # since the first attempt can end it.
    schedule = RetrySchedule(
        initial=0.5, max_delay=2.0, max_attempts=None, deadline=5.0, random=lambda: 0.5
    )
    async with running(journal, clock, script, decide=default_decider(schedule=schedule)) as d:
        entry_id = (await d.accept(envelope("evt_1"))).envelope.id
        for _ in range(20):
            await d.wait_settled()
            if d.statistics().dead:
                break
            await clock.advance(1.0)
        assert d.statistics().dead == 1  # else it would retry for ever
    dead = await journal.get(entry_id)
    assert dead is not None
    assert dead.state is EntryState.DEAD
    assert dead.reason is not None
    assert dead.reason.startswith("deadline of 5 s would pass")


async def test_an_entry_that_never_finishes_delivering_becomes_a_dead_letter(
    journal: Journal, clock: FakeClock
) -> None:
    # As after crashes during delivery: the entry is journaled and was marked in flight again
    # and again, and no delivery ever ended.
    appended = await journal.append(envelope("evt_poison"))
    for _ in range(3):
        await journal.mark_in_flight([appended.envelope.id])
    script = Script()
    async with running(journal, clock, script, poison_after=3) as dispatcher:
        await dispatcher.wait_idle()
    assert script.handled == []
    [dead] = await journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.id == appended.envelope.id
    assert dead.error_class == "PoisonSuspected"
    assert dead.reason is not None
    assert "delivery began 3 times and never ended" in dead.reason


async def test_an_entry_recovered_in_flight_below_the_limit_is_delivered(
    journal: Journal, clock: FakeClock
) -> None:
    appended = await journal.append(envelope("evt_once"))
    await journal.mark_in_flight([appended.envelope.id])
    script = Script()
    async with running(journal, clock, script, poison_after=3) as dispatcher:
        await dispatcher.wait_idle()
    assert script.handled == [("evt_once", 2)]

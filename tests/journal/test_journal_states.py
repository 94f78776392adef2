"""Delivery states: recovery, retries due, dead letters, replay with its loop guard, release."""

from __future__ import annotations

from mediator.journal import DeadLetterFilter, Entry, EntryState, Journal
from mediator.testing import FakeClock
from tests.journal.conftest import Opener
from tests.journal.support import envelope


async def test_in_flight_entries_are_recovered_after_a_crash(opener: Opener) -> None:
    async with opener() as journal:
        a, b, c = [(await journal.append(envelope(f"evt_{i}"))).envelope for i in range(3)]
        await journal.mark_in_flight([a.id, b.id])
        await journal.mark_done([b.id])
    async with opener() as journal:
        recovered = await journal.recover()
    assert [(e.id, e.state, e.attempts) for e in recovered] == [
        (a.id, EntryState.IN_FLIGHT, 1),
        (c.id, EntryState.ACCEPTED, 0),
    ]


async def test_due_returns_retries_whose_time_has_come(journal: Journal, clock: FakeClock) -> None:
    now = clock.time()
    soon, later = [(await journal.append(envelope(f"evt_{i}"))).envelope for i in range(2)]
    await journal.mark_retry(later.id, at=now + 60, error="503 from crm", error_class="X")
    await journal.mark_retry(soon.id, at=now + 5, error="timeout", error_class="Y")

    assert await journal.due(now) == []
    assert [e.id for e in await journal.due(now + 5)] == [soon.id]
    due = await journal.due(now + 60)
    assert [e.id for e in due] == [soon.id, later.id]
    assert due[1].due_at == now + 60
    assert due[1].error == "503 from crm"
    await journal.mark_done([soon.id])
    assert [e.id for e in await journal.due(now + 60)] == [later.id]


async def _dead(journal: Journal, idem: str, **where: str) -> str:
    env = await journal.append(
        envelope(
            idem,
            key=where.get("key", "project:P-1"),
            kind=where.get("kind", "psa.time_entry.approved"),
        )
    )
    entry_id = env.envelope.id
    await journal.mark_in_flight([entry_id])
    await journal.mark_dead(
        entry_id,
        reason=where.get("reason", "rate missing for role Senior"),
        error_class=where.get("error_class", "DecodeError"),
        system=where.get("system", "tryton"),
    )
    return entry_id


async def test_dead_letters_filter_by_entity_kind_system_class_and_age(
    journal: Journal, clock: FakeClock
) -> None:
    old = await _dead(journal, "evt_1", key="invoice:I-1", system="tryton")
    await clock.advance(3600)
    new = await _dead(journal, "evt_2", key="invoice:I-2", system="stripe",
                      error_class="RemoteRejected", kind="billing.invoice.post")  # fmt: skip

    def ids(entries: list[Entry]) -> list[str]:
        return [e.id for e in entries]

    assert ids(await journal.list_dead(DeadLetterFilter())) == [old, new]
    assert ids(await journal.list_dead(DeadLetterFilter(entity="invoice:I-2"))) == [new]
    assert ids(await journal.list_dead(DeadLetterFilter(system="tryton"))) == [old]
    assert ids(await journal.list_dead(DeadLetterFilter(kind="billing.invoice.post"))) == [new]
    assert ids(await journal.list_dead(DeadLetterFilter(error_class="DecodeError"))) == [old]
    assert ids(await journal.list_dead(DeadLetterFilter(older_than=1800))) == [old]
    assert ids(await journal.list_dead(DeadLetterFilter(newer_than=1800))) == [new]
    inspected = await journal.get(old)
    assert inspected is not None
    assert inspected.reason == "rate missing for role Senior"
    assert inspected.attempts == 1
    assert inspected.state is EntryState.DEAD


async def test_replay_dry_run_changes_nothing_and_real_run_links_lineage(
    journal: Journal,
) -> None:
    dead_id = await _dead(journal, "evt_1")
    original = await journal.get(dead_id)
    assert original is not None

    dry = await journal.replay(DeadLetterFilter(ids=(dead_id,)))
    assert dry.dry_run
    assert [(e.replay_of, e.replay_count, e.envelope.id) for e in dry.sent] == [(dead_id, 1, "")]
    assert dry.sent[0].envelope.payload == original.envelope.payload
    assert await journal.get(dead_id) == original  # untouched
    assert await journal.recover() == []

    real = await journal.replay(DeadLetterFilter(ids=(dead_id,)), dry_run=False)
    (sent,) = real.sent
    assert sent.replay_of == dead_id
    assert sent.replay_count == 1
    assert sent.envelope.idempotency_key == original.envelope.idempotency_key
    assert sent.envelope.id not in ("", dead_id)
    replayed = await journal.get(dead_id)
    assert replayed is not None
    assert replayed.state is EntryState.REPLAYED
    assert [e.id for e in await journal.recover()] == [sent.id]
    assert await journal.get(sent.id) == sent
    assert await journal.list_dead(DeadLetterFilter()) == []


async def test_loop_guard_quarantines_after_max_replays(journal: Journal) -> None:
    entry_id = await _dead(journal, "evt_1")
    for round_ in range(1, 3):
        (sent,) = (await journal.replay(DeadLetterFilter(), dry_run=False, max_replays=2)).sent
        assert sent.replay_count == round_
        await journal.mark_dead(sent.id, reason="still failing", error_class="DecodeError")
        entry_id = sent.id

    dry = await journal.replay(DeadLetterFilter(), max_replays=2)
    assert dry.sent == ()
    assert [e.id for e in dry.quarantined] == [entry_id]
    report = await journal.replay(DeadLetterFilter(), dry_run=False, max_replays=2)
    assert report.sent == ()
    assert [(e.id, e.state) for e in report.quarantined] == [(entry_id, EntryState.QUARANTINED)]
    # quarantined stays visible as a dead letter, is never replayed, and can be released
    (listed,) = await journal.list_dead(DeadLetterFilter())
    assert listed.state is EntryState.QUARANTINED
    again = await journal.replay(DeadLetterFilter(), dry_run=False, max_replays=10)
    assert again.sent == ()
    released = await journal.release(entry_id, reason="fixed by hand in Tryton", by="ops:anna")
    assert released.released.state is EntryState.RELEASED
    assert released.released.released_by == "ops:anna"


async def test_parked_entries_wait_until_release(journal: Journal) -> None:
    dead_id = await _dead(journal, "evt_1", key="invoice:I-9")
    later = [(await journal.append(envelope(f"evt_{i}", key="invoice:I-9"))).envelope.id
             for i in (2, 3)]  # fmt: skip
    other = (await journal.append(envelope("evt_4", key="invoice:I-10"))).envelope.id
    await journal.park(later)
    assert await journal.held_keys() == {"invoice:I-9"}
    assert [e.id for e in await journal.recover()] == [other]

    report = await journal.release(dead_id, reason="duplicate of I-8", by="ops:ben")

    assert [(e.id, e.state) for e in report.unparked] == [(i, EntryState.ACCEPTED) for i in later]
    assert report.released.release_reason == "duplicate of I-8"
    assert await journal.held_keys() == set()
    assert [e.id for e in await journal.recover()] == [*later, other]


async def test_parked_entries_follow_the_replay_once_it_is_done(journal: Journal) -> None:
    first = await _dead(journal, "evt_1", key="invoice:I-9")
    await _dead(journal, "evt_2", key="invoice:I-9")
    parked = (await journal.append(envelope("evt_3", key="invoice:I-9"))).envelope.id
    await journal.park([parked])

    one = await journal.replay(DeadLetterFilter(ids=(first,)), dry_run=False)
    rest = await journal.replay(DeadLetterFilter(entity="invoice:I-9"), dry_run=False)
    replays = [one.sent[0].id, rest.sent[0].id]
    assert await journal.held_keys() == {"invoice:I-9"}  # the replays are still open
    assert [e.id for e in await journal.recover()] == replays  # the parked one is not there

    assert await journal.mark_done(replays[:1]) == []  # the other replay is still open
    unparked = await journal.mark_done(replays[1:])

    assert [(e.id, e.state) for e in unparked] == [(parked, EntryState.ACCEPTED)]
    assert await journal.held_keys() == set()
    assert [e.id for e in await journal.recover()] == [parked]


async def test_an_envelope_journaled_dead_is_a_dead_letter_from_its_one_transaction(
    journal: Journal,
) -> None:
    undecodable = envelope("harvest:time_entry:7:invalid", key="time_entry:7")
    before = journal.statistics().transactions
    appended = await journal.append_dead(
        undecodable, reason="$.hours: must be >= 0", error_class="DecodeError", system="harvest"
    )
    assert journal.statistics().transactions == before + 1
    assert not appended.duplicate
    assert await journal.recover() == []  # never open, so never delivered
    [dead] = await journal.list_dead(DeadLetterFilter(entity="time_entry:7"))
    assert (dead.envelope, dead.state) == (undecodable, EntryState.DEAD)
    assert (dead.reason, dead.error_class, dead.system) == (
        "$.hours: must be >= 0",
        "DecodeError",
        "harvest",
    )
    # read again by the next poll: a duplicate, the dead letter as it was
    again = await journal.append_dead(
        envelope("harvest:time_entry:7:invalid", key="time_entry:7"),
        reason="other",
        error_class="DecodeError",
    )
    assert again.duplicate
    assert again.envelope == undecodable
    assert [d.reason for d in await journal.list_dead(DeadLetterFilter())] == [dead.reason]


async def test_journaling_dead_a_known_key_leaves_its_open_entry_alone(
    journal: Journal,
) -> None:
    open_entry = (await journal.append(envelope("evt_1"))).envelope
    for reused in (envelope("evt_1"), open_entry):  # another envelope, and the same one again
        again = await journal.append_dead(reused, reason="late", error_class="DecodeError")
        assert again.duplicate
        assert again.envelope == open_entry
    assert [e.envelope for e in await journal.recover()] == [open_entry]
    assert await journal.list_dead(DeadLetterFilter()) == []

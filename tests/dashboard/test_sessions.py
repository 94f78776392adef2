"""Dashboard sessions: opaque ids, idle and absolute expiry, a bounded store, logout."""

from __future__ import annotations

from mediator.admin import Principal
from mediator.dashboard import SessionStore

ALICE = Principal(name="alice", role="operator")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_found_by_its_id_only_and_renewed_by_use() -> None:
    clock = Clock()
    store = SessionStore(idle=60.0, lifetime=600.0, clock=clock)
    session_id, session = store.open(ALICE)
    assert len(session_id) >= 43  # 256 random bits, URL-safe
    assert store.get(session_id) is session
    assert store.get(session_id + "x") is None
    assert store.get(None) is None
    other_id, other = store.open(ALICE)
    assert other_id != session_id
    assert other.csrf != session.csrf
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(other.csrf)
    assert not session.csrf_matches(None)
    clock.now += 50
    assert store.get(session_id) is session  # used: its idle time starts again
    clock.now += 50
    assert store.get(session_id) is session
    assert store.get(other_id) is None  # 100 s unused: gone


def test_a_session_ends_at_its_lifetime_however_busy_and_at_logout() -> None:
    clock = Clock()
    store = SessionStore(idle=60.0, lifetime=150.0, clock=clock)
    session_id, _ = store.open(ALICE)
    for _ in range(2):
        clock.now += 59
        assert store.get(session_id) is not None
    clock.now += 59  # 177 s after login
    assert store.get(session_id) is None
    again, _ = store.open(ALICE)
    store.close(again)
    assert store.get(again) is None
    store.close("never-was")


def test_the_store_is_bounded_and_drops_the_least_recently_used() -> None:
    clock = Clock()
    store = SessionStore(limit=3, clock=clock)
    ids = [store.open(ALICE)[0] for _ in range(3)]
    assert store.get(ids[0]) is not None  # now the most recently used
    fourth, _ = store.open(ALICE)
    assert len(store) == 3
    assert store.get(ids[1]) is None
    assert all(store.get(i) is not None for i in (ids[0], ids[2], fourth))


def test_messages_are_shown_once() -> None:
    _, session = SessionStore().open(ALICE)
    session.say("done")
    session.say("careful", level="error")
    assert session.take_flash() == [("ok", "done"), ("error", "careful")]
    assert session.take_flash() == []

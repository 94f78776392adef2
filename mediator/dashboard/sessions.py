"""The dashboard's sessions: an opaque id in a cookie, everything else in this process.

A browser logs in once with an admin token (`login.py`) and then holds only a random session
id (256 bits) in an HttpOnly, SameSite=Strict cookie: the token itself never reaches a cookie,
a page or a script. The store keeps each session's principal (the token's name and role), its
CSRF token and its expiry; it is keyed by the SHA-256 of the id, so neither the memory nor the
time of a lookup tells the id. A session ends at logout, after `idle` seconds without a
request, or `lifetime` seconds after login, whichever comes first; a daemon restart ends them
all (the operator logs in again). The store is bounded: past `limit` sessions, logging in
ends the session that was used least recently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from mediator.admin.auth import Principal

__all__ = ["Session", "SessionStore"]


@dataclasses.dataclass(kw_only=True)
class Session:
    """One logged-in browser: who, its CSRF token, and one-shot messages for its next page."""

    principal: Principal
    csrf: str
    started_at: float
    seen_at: float
    #: messages shown once, on the next page rendered (``("ok" | "error", text)``)
    flash: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def csrf_matches(self, presented: str | None) -> bool:
        """Whether `presented` is this session's CSRF token (compared in constant time)."""
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), self.csrf.encode()
        )

    def say(self, text: str, *, level: str = "ok") -> None:
        """Show `text` on this session's next page."""
        self.flash.append((level, text))

    def take_flash(self) -> list[tuple[str, str]]:
        """The messages to show now (and forget)."""
        messages, self.flash = self.flash, []
        return messages


class SessionStore:
    """Sessions by id; `clock` reads seconds (monotonic by default)."""

    def __init__(
        self,
        *,
        lifetime: float = 12 * 3600.0,
        idle: float = 3600.0,
        limit: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lifetime = lifetime
        self._idle = idle
        self._limit = limit
        self._clock = clock
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()  # least recently used first

    def open(self, principal: Principal) -> tuple[str, Session]:
        """Start a session for `principal`; its new id (for the cookie) and the session."""
        now = self._clock()
        self._expire(now)
        while len(self._sessions) >= self._limit:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        session = Session(
            principal=principal, csrf=secrets.token_urlsafe(32), started_at=now, seen_at=now
        )
        self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of `session_id` (None when unknown or expired); a use renews its
        idle time."""
        if not session_id:
            return None
        key = _key(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.seen_at = now
        self._sessions.move_to_end(key)
        return session

    def close(self, session_id: str | None) -> None:
        """End the session of `session_id`, if there is one."""
        if session_id:
            self._sessions.pop(_key(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.seen_at >= self._idle or now - session.started_at >= self._lifetime

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).digest()

"""Tryton's authentication: Session and Basic authorization, freshness, login throttling.

A session idle longer than the `[session] timeout` is not fresh: a fresh-session method
(`account.invoice.post`) then deletes it and answers 401, so only a new login lets the call
through, as trytond 8.2 does. Failed logins are counted per login name; more than
`max_attempts` within the timeout answer 429.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Callable, Mapping

import msgspec

from mediator.clock import Clock
from mediator.sandbox.tryton.errors import HttpRefusal

__all__ = ["Session", "Sessions", "unauthorized"]

_MAX_AGE = 30 * 86_400.0  # [session] max_age

Verifier = Callable[[str, str], "int | None"]


class Session(msgspec.Struct, kw_only=True):
    """An open session: who, when it was last used, and whether that was recent enough."""

    login: str
    user_id: int
    key: str
    last_seen: float
    basic: bool = False
    fresh: bool = True


def unauthorized(headers: Mapping[str, str]) -> HttpRefusal:
    """Return the 401 trytond answers without (valid) credentials: empty, with a challenge."""
    challenge = (
        {}
        if headers.get("X-Requested-With") == "XMLHttpRequest"
        else {"WWW-Authenticate": 'Basic realm="Tryton"'}
    )
    return HttpRefusal(401, "", challenge, plain=True)


class Sessions:
    """Open sessions by key, and failed logins per login name."""

    def __init__(self, clock: Clock, *, timeout: float, max_attempts: int) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._open: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}

    def open(self, login: str, user_id: int, key: str) -> None:
        """Record a new session after a successful login."""
        self._open[key] = Session(
            login=login, user_id=user_id, key=key, last_seen=self._clock.monotonic()
        )
        self._failures.pop(login, None)

    def logout(self, session: Session) -> None:
        """Close a session (`common.db.logout`)."""
        self._open.pop(session.key, None)

    def check_attempts(self, login: str) -> None:
        """Refuse with 429 after too many recent failures for `login`."""
        failures = self._failures.get(login)
        if failures is None:
            return
        cutoff = self._clock.monotonic() - self._timeout
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if len(failures) >= self._max_attempts:
            raise HttpRefusal(429)

    def failed(self, login: str) -> None:
        """Count a failed login for `login`."""
        self._failures.setdefault(login, deque()).append(self._clock.monotonic())

    def authenticate(self, headers: Mapping[str, str], verify: Verifier) -> Session:
        """Return the caller's session from `Authorization`, or refuse with 401."""
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        now = self._clock.monotonic()
        if scheme == "Session":
            login, _, rest = decoded.partition(":")
            user_id, _, key = rest.partition(":")
            session = self._open.get(key)
            if (
                session is not None
                and session.login == login
                and str(session.user_id) == user_id
                and now - session.last_seen <= _MAX_AGE
            ):
                session.fresh = now - session.last_seen <= self._timeout
                session.last_seen = now
                return session
        elif scheme == "Basic":
            login, _, password = decoded.partition(":")
            found = verify(login, password)
            if found is not None:
                return Session(login=login, user_id=found, key="", last_seen=now, basic=True)
        raise unauthorized(headers)

    def require_fresh(self, session: Session, headers: Mapping[str, str]) -> None:
        """Refuse a stale session with 401, deleting it so that only a new login helps."""
        if not session.basic and not session.fresh:
            self._open.pop(session.key, None)
            raise unauthorized(headers)

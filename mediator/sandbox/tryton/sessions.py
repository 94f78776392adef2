"""Tryton's authentication: Session and Basic authorization, freshness, login throttling."""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Mapping

import msgspec

from mediator.clock import Clock
from mediator.sandbox.tryton.errors import HttpRefusal

__all__ = ["Session", "Sessions"]

_MAX_AGE = 30 * 86_400.0  # [session] max_age


class Session(msgspec.Struct, kw_only=True):
    """An open session: who, and when it was last used."""

    login: str
    user_id: int
    key: str
    last_seen: float
    basic: bool = False


class Sessions:
    """Open sessions by key, and failed logins per login name."""

    def __init__(self, clock: Clock, *, timeout: float, max_attempts: int) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._open: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}
        self._fresh: dict[str, bool] = {}

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
            raise HttpRefusal(429, "Too many login attempts")

    def failed(self, login: str) -> None:
        """Count a failed login for `login`."""
        self._failures.setdefault(login, deque()).append(self._clock.monotonic())

    def authenticate(self, headers: Mapping[str, str], users: Mapping[str, str]) -> Session:
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
                self._fresh[key] = now - session.last_seen <= self._timeout
                session.last_seen = now
                return session
        elif scheme == "Basic":
            login, _, password = decoded.partition(":")
            if login in users and users[login] == password:
                return Session(login=login, user_id=1, key="", last_seen=now, basic=True)
        challenge = (
            {}
            if headers.get("X-Requested-With") == "XMLHttpRequest"
            else {"WWW-Authenticate": 'Basic realm="Tryton"'}
        )
        raise HttpRefusal(401, "", challenge)

    def require_fresh(self, session: Session) -> None:
        """Refuse with 401 unless the session was used within the freshness timeout."""
        if not session.basic and not self._fresh.get(session.key, False):
            raise HttpRefusal(401, "The session is not fresh enough; log in again.")

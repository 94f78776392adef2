"""The 401 rule every connector shares: refresh the credential once and resend; a second 401 fails.

Each system refreshes its own way (Salesforce grants a new OAuth session, Tryton logs in
again, Harvest and Stripe read a rotated secret from its source again); what happens around the
refresh is the same for all four, and lives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from mediator.errors import AuthenticationFailed, RemoteRejected
from mediator.systems.secrets import Secret

__all__ = ["ReloadedSecret", "send_with_reauth"]

C = TypeVar("C")
T = TypeVar("T")


async def send_with_reauth(
    system: str,
    send: Callable[[C], Awaitable[T]],
    credential: C,
    refresh: Callable[[C], Awaitable[C]],
    *,
    refused: str,
) -> T:
    """Return `send(credential)`; on a 401, `send` once more with `refresh(credential)`.

    `refresh` is given the refused credential, so calls refused with the same one refresh it once
    between them. A 401 on the resend raises `AuthenticationFailed` worded `refused` (which must
    never contain the credential) with the answer's code; other errors pass through.
    """
    try:
        return await send(credential)
    except RemoteRejected as exc:
        if exc.status != 401:
            raise
    fresh = await refresh(credential)
    try:
        return await send(fresh)
    except RemoteRejected as exc:
        if exc.status == 401:
            raise AuthenticationFailed(system, f"{refused}: {exc.code}") from exc
        raise


class ReloadedSecret:
    """A secret read from its source (a file or variable an operator rotates), re-read on refusal.

    `loads` counts reads of the source (what the status page and the tests read).
    """

    def __init__(self, system: str, load: Callable[[], Secret]) -> None:
        self._system = system
        self._load = load
        self._secret: Secret | None = None
        self.loads = 0

    def current(self) -> Secret:
        """The secret in use, read from the source the first time."""
        if self._secret is None:
            self._secret = self._read()
        return self._secret

    async def reload(self, refused: Secret) -> Secret:
        """Read the source again after `refused` was turned down; a newer secret, or raise.

        If another call already read a newer one, that is returned without reading again.
        Raises `AuthenticationFailed` when the source still holds the refused secret.
        """
        if self._secret is not None and self._secret != refused:
            return self._secret
        fresh = self._read()
        if fresh == refused:
            raise AuthenticationFailed(self._system, "secret refused and its source has no newer")
        self._secret = fresh
        return fresh

    def _read(self) -> Secret:
        self.loads += 1
        return self._load()

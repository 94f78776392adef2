"""Salesforce OAuth2 client credentials: one shared session, fetched lazily, refreshed on 401.

Server-to-server orgs issue no refresh token (apis.md §1.1), so "refresh" is a new
client-credentials grant. Concurrent callers that see the same expired session trigger one
grant between them: the first refreshes, the others find the new session already there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlencode

import msgspec

from mediator.errors import AuthenticationFailed, DecodeError, RemoteRejected
from mediator.systems.http import HttpTransport
from mediator.systems.secrets import Secret

__all__ = ["ClientCredentials", "SalesforceAuth", "SalesforceSession"]

TOKEN_PATH = "/services/oauth2/token"


class ClientCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """A connected app's client id; `login_url` is the org's My Domain host (the client secret
    comes from the connector's `secret` source, read at each grant)."""

    login_url: str
    client_id: str


class SalesforceSession(msgspec.Struct, frozen=True, kw_only=True):
    """An access token and the instance its calls go to."""

    access_token: Secret
    instance_url: str

    def authorization(self) -> dict[str, str]:
        """The ``Authorization`` header of an API call."""
        return {"Authorization": f"Bearer {self.access_token.reveal()}"}


class _TokenAnswer(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    instance_url: str
    token_type: str = "Bearer"


_decode_token = msgspec.json.Decoder(_TokenAnswer).decode


class SalesforceAuth:
    """Hand out the current session; fetch one when there is none or it was refused.

    `logins` counts token grants made (what the status page and the tests read).
    """

    def __init__(
        self,
        transport: HttpTransport,
        credentials: ClientCredentials,
        secret: Callable[[], Secret],
    ) -> None:
        self._transport = transport
        self._credentials = credentials
        self._secret = secret
        self._session: SalesforceSession | None = None
        self._lock = asyncio.Lock()
        self.logins = 0

    async def session(self) -> SalesforceSession:
        """The current session, granting one first if there is none yet. May wait on I/O."""
        current = self._session
        if current is not None:
            return current
        return await self.refresh(None)

    async def refresh(self, stale: SalesforceSession | None) -> SalesforceSession:
        """Replace `stale` (the session a call was refused with) by a fresh grant.

        If another caller already replaced it, that newer session is returned without a
        second grant. Raises `AuthenticationFailed` when the credentials are refused.
        """
        async with self._lock:
            if self._session is not None and self._session is not stale:
                return self._session
            self._session = None
            self._session = await self._grant()
            return self._session

    async def _grant(self) -> SalesforceSession:
        creds = self._credentials
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": self._secret().reveal(),
            }
        ).encode()
        self.logins += 1
        try:
            response = await self._transport.send(
                "POST",
                creds.login_url.rstrip("/") + TOKEN_PATH,
                endpoint=TOKEN_PATH,
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except RemoteRejected as exc:
            if 400 <= exc.status < 500:
                # the body names the OAuth error (invalid_client...), never the secret we sent
                raise AuthenticationFailed(
                    self._transport.system, f"token grant refused ({exc.status}): {exc.detail}"
                ) from exc
            raise
        try:
            answer = _decode_token(response.body)
        except msgspec.ValidationError as exc:
            raise DecodeError(self._transport.system, "$", f"token answer: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise DecodeError(self._transport.system, "$", "token answer is not JSON") from exc
        return SalesforceSession(
            access_token=Secret(answer.access_token, source="oauth2 token"),
            instance_url=answer.instance_url.rstrip("/"),
        )

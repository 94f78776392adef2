"""Tryton's JSON-RPC calls with a session: login, the `Session` header, relogin, freshness.

``common.db.login`` answers ``[user_id, key, bus]``; every later call carries
``Authorization: Session base64(login:user_id:key)``. A 401 means the session is gone (logged
out, past ``[session] max_age``, the server's database restored): log in again once and repeat
the call; a second 401 is `AuthenticationFailed`.

The fresh-session rule (shared/reference/tryton/REPORT.md pitfall 5): methods declared
``fresh_session`` (``account.invoice.post``) answer 401 and delete the
session when it was idle longer than ``[session] timeout``. trytond restarts that idle clock on
every call (``ir.session.reset``), and the invoice flow reads the invoice just before posting
it, so a post normally runs in a fresh session; when one is refused anyway, the relogin above
replaces the deleted session and the post is repeated in the new one.

A JSON-RPC error arrives as HTTP 200 with ``{"id", "error": [name, args]}``; the codec's
`error_code` (`mediator.codecs.tryton.errors`) hands the exception name (``UserError``,
``ConcurrencyException``) to the classifier, so the transport raises
`RemoteRejected(200, name)` and retries only what is transient.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable, Mapping

import msgspec

from mediator.codecs.tryton import RpcValue, TrytonFault, TrytonRequest
from mediator.codecs.tryton.rpc import decode_response as decode_tryton_response
from mediator.codecs.tryton.rpc import encode_request as encode_tryton_request
from mediator.errors import AuthenticationFailed, DecodeError, RemoteRejected
from mediator.systems._reauth import send_with_reauth
from mediator.systems.http import HttpTransport
from mediator.systems.secrets import Secret

__all__ = ["TrytonSession", "TrytonSessions"]

_JSON = {"Content-Type": "application/json"}


class TrytonSession(msgspec.Struct, frozen=True, kw_only=True):
    """A logged-in session; `key` is a credential and prints as `Secret` does."""

    login: str
    user_id: int
    key: Secret

    def authorization(self) -> str:
        """Return the ``Authorization`` header value: ``Session base64(login:id:key)``."""
        token = f"{self.login}:{self.user_id}:{self.key.reveal()}".encode()
        return "Session " + base64.b64encode(token).decode()


class TrytonSessions:
    """Sessions for one database: `call` logs in when needed and relogs in once on 401."""

    def __init__(
        self,
        transport: HttpTransport,
        *,
        database: str,
        login: str,
        secret: Callable[[], Secret],
        language: str = "en",
    ) -> None:
        self._transport = transport
        self.path = f"/{database}/rpc/"  # the slash matters: without it trytond answers 308
        self._login_name = login
        self._secret = secret  # read at each login: a rotated password needs no restart
        self._language = language
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self.session: TrytonSession | None = None
        self.context: dict[str, RpcValue] = {}
        self.logins = 0

    async def call(
        self,
        method: str,
        params: list[RpcValue],
        context: Mapping[str, RpcValue] | None = None,
        *,
        priority: str | None = None,
    ) -> RpcValue:
        """Call `method` with `params` in a live session; the user's context goes last.

        `context` adds to (or overrides) the user's context for this call only, such as
        ``{"active_test": False}`` to see archived records. `priority` is the class the call
        is admitted in; a login it needs is admitted as live (it serves every caller).
        """

        async def send(session: TrytonSession) -> RpcValue:
            sent = [*params, {**self.context, **(context or {})}]
            return await self._post(method, sent, session, priority=priority)

        return await send_with_reauth(
            "tryton",
            send,
            self.session or await self._relogin(None),
            self._relogin,
            refused=f"{method} refused the session just opened for {self._login_name}",
        )

    async def _relogin(self, stale: TrytonSession | None) -> TrytonSession:
        async with self._lock:
            # Calls refused with the same stale session log in once between them.
            if self.session is not None and self.session is not stale:
                return self.session
            self.session = None
            params: list[RpcValue] = [
                self._login_name,
                {"password": self._secret().reveal()},
                self._language,
            ]
            try:
                answer = await self._post("common.db.login", params, None)
            except RemoteRejected as exc:
                if exc.status == 401 or exc.code == "LoginException":
                    raise AuthenticationFailed(
                        "tryton", f"login {self._login_name} refused ({exc.status} {exc.code})"
                    ) from exc
                raise
            if not (isinstance(answer, list) and len(answer) >= 2):
                raise DecodeError("tryton", "$.result", "login answer is not [user_id, key]")
            user_id, key = answer[0], answer[1]
            if not isinstance(user_id, int) or not isinstance(key, str):
                raise DecodeError("tryton", "$.result", "login answer is not [user_id, key]")
            session = TrytonSession(
                login=self._login_name, user_id=user_id, key=Secret(key, source="tryton login")
            )
            self.logins += 1
            if not self.context:
                preferences = await self._post(
                    "model.res.user.get_preferences", [True, {}], session
                )
                if not isinstance(preferences, dict):
                    raise DecodeError("tryton", "$.result", "preferences are not a map")
                self.context = preferences
            self.session = session
            return session

    async def _post(
        self,
        method: str,
        params: list[RpcValue],
        session: TrytonSession | None,
        *,
        priority: str | None = None,
    ) -> RpcValue:
        body = encode_tryton_request(
            TrytonRequest(id=next(self._ids), method=method, params=params)
        )
        headers = dict(_JSON)
        if session is not None:
            headers["Authorization"] = session.authorization()
        response = await self._transport.send(
            "POST", self.path, endpoint=method, body=body, headers=headers, priority=priority
        )
        answer = decode_tryton_response(response.body)
        if answer.error is not None:  # an error the classifier took for success: still one
            raise _rejected(answer.error, response.status)
        return answer.result


def _rejected(fault: TrytonFault, status: int) -> RemoteRejected:
    return RemoteRejected("tryton", status, fault.name, fault.message[:300])

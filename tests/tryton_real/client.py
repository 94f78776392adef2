"""A small Tryton JSON-RPC client over aiohttp, for the real-server tests and the fidelity check.

It speaks through `mediator.codecs.tryton.rpc` (the envelope and the tagged values), and keeps
every answer raw as well (status, headers, parsed JSON before untagging), because the fidelity
check compares the wire shapes of the real server and the sandbox, not just decoded values.

Results are typed ``Any``: they are the server's JSON, whose shape the calling test asserts.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import aiohttp

from mediator.codecs.tryton.rpc import (
    TrytonFault,
    TrytonRequest,
    decode_response,
    encode_request,
)
from mediator.codecs.tryton.values import parse

_TIMEOUT = aiohttp.ClientTimeout(total=30)  # invoice.post takes up to ~1.3 s on 2 busy cores


@dataclasses.dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers and body, with the JSON parsed (not untagged) if any."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    wire: Any  # parsed JSON, tagged values left as maps; None when the body is not JSON

    @property
    def result(self) -> Any:
        """The call's result, untagged: the server's JSON, whose shape the caller asserts."""
        return decode_response(self.body).result

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0]


class CallFailed(Exception):
    """A call answered with an HTTP error or an error envelope."""

    def __init__(self, answer: Answer, fault: TrytonFault | None) -> None:
        super().__init__(answer.status, fault)
        self.answer = answer
        self.fault = fault


class TrytonClient:
    """Log in, then call ``model.<name>.<method>`` with the user's context appended last."""

    def __init__(self, http: aiohttp.ClientSession, rpc_url: str) -> None:
        self.http = http
        self.rpc_url = rpc_url
        self.authorization: str | None = None
        self.context: dict[str, Any] = {}  # the user's preferences, as the server sent them
        self.last_answer: Answer | None = None
        self.login_answer: Answer | None = None
        self._ids = itertools.count(1)

    async def post(
        self, body: bytes, *, url: str | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """POST a raw body; never raises for an HTTP status (redirects are not followed)."""
        sent = {"Content-Type": "application/json"}
        if self.authorization is not None:
            sent["Authorization"] = self.authorization
        sent.update(headers or {})
        async with self.http.post(
            url or self.rpc_url, data=body, headers=sent, allow_redirects=False, timeout=_TIMEOUT
        ) as response:
            raw = await response.read()
            try:
                wire = parse(raw) if raw else None
            except Exception:  # noqa: BLE001 - an HTML error page is an answer, not a failure
                wire = None
            return Answer(response.status, dict(response.headers), raw, wire)

    async def request(self, method: str, *params: object, url: str | None = None) -> Answer:
        """Send one enveloped call and return the raw answer."""
        request = TrytonRequest(id=next(self._ids), method=method, params=list(params))  # type: ignore[arg-type]  # tests send any value, odd ones on purpose
        return await self.post(encode_request(request), url=url)

    async def call(self, method: str, *params: object, url: str | None = None) -> Any:
        """Send one enveloped call; return its result (the server's JSON, untagged; the caller
        asserts its shape) or raise `CallFailed`."""
        answer = await self.request(method, *params, url=url)
        self.last_answer = answer
        if answer.status != 200:
            raise CallFailed(answer, None)
        response = decode_response(answer.body)
        if response.error is not None:
            raise CallFailed(answer, response.error)
        return response.result

    async def model(self, name: str, method: str, *args: object) -> Any:
        """Call ``model.<name>.<method>(*args, context)`` with this user's context; the result
        is the server's JSON, whose shape the caller asserts."""
        return await self.call(f"model.{name}.{method}", *args, self.context)

    @property
    def answered(self) -> Answer:
        """The raw answer to the last `call`."""
        assert self.last_answer is not None, "no call was answered yet"
        return self.last_answer

    @property
    def answered_login(self) -> Answer:
        """The raw answer to `login`."""
        assert self.login_answer is not None, "not logged in yet"
        return self.login_answer

    async def login(self, login: str, password: str) -> list[Any]:
        """Log in with ``common.db.login`` and switch to ``Authorization: Session``."""
        result = await self.call("common.db.login", login, {"password": password}, "en")
        self.login_answer = self.last_answer
        assert isinstance(result, list)
        user_id, key = result[0], result[1]
        token = base64.b64encode(f"{login}:{user_id}:{key}".encode()).decode()
        self.authorization = f"Session {token}"
        preferences = await self.call("model.res.user.get_preferences", True, {})
        assert isinstance(preferences, dict)
        self.context = preferences
        return result

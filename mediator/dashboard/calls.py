"""The dashboard's one way to data and actions: the admin API's own endpoints, in process.

A page asks for ``GET /flows`` or posts ``POST /dead-letters/{id}/release`` through
`AdminCalls`, which finds that `Endpoint` in the admin API's table and runs its handler with
the logged-in principal: the same role check, the same request types (a form's fields are
converted to the endpoint's query or body Struct, so a bad value is the same 400 naming the
field), the same reads on the journal's reader, the same statistics snapshot, and the same
actions on the `Mediator`, audited under the principal's name. The dashboard never reads the
journal or the runtime around the API; what it shows is what the API answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

import msgspec
from aiohttp import web

from mediator.admin.auth import Principal, allows
from mediator.admin.endpoint import Call, Endpoint, convert_fields
from mediator.admin.problems import ProblemError
from mediator.admin.snapshots import Snapshots
from mediator.errors import JournalError

if TYPE_CHECKING:
    from mediator.runtime import Mediator

__all__ = ["AdminCalls"]

S = TypeVar("S", bound=msgspec.Struct)


class AdminCalls:
    """Run the admin API's endpoints for a page (`endpoints` is the API's table)."""

    def __init__(
        self, endpoints: Iterable[Endpoint], *, mediator: Mediator, snapshots: Snapshots
    ) -> None:
        self._endpoints = {(e.method, e.path): e for e in endpoints}
        self._mediator = mediator
        self._snapshots = snapshots

    def now(self) -> float:
        """The runtime's time (epoch seconds), which ages and windows are measured against."""
        return self._mediator.clock.time()

    async def get(
        self,
        answer: type[S],
        path: str,
        *,
        request: web.Request,
        principal: Principal,
        params: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
    ) -> S:
        """The answer of ``GET path`` (a template such as ``/dead-letters/{id}``, its
        `params` filled in) as an `answer`; raises the endpoint's `ProblemError`s."""
        found = await self._run("GET", path, request, principal, params, query, None)
        assert isinstance(found, answer), f"GET {path} answered {type(found).__name__}"
        return found

    async def post(
        self,
        answer: type[S],
        path: str,
        *,
        request: web.Request,
        principal: Principal,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> S:
        """The answer of ``POST path`` with `body` (converted to the endpoint's body type);
        an action, run to its end as the API runs it, and audited under `principal`."""
        found = await self._run("POST", path, request, principal, params, None, body or {})
        assert isinstance(found, answer), f"POST {path} answered {type(found).__name__}"
        return found

    async def _run(
        self,
        method: str,
        path: str,
        request: web.Request,
        principal: Principal,
        params: Mapping[str, str] | None,
        query: Mapping[str, object] | None,
        body: Mapping[str, object] | None,
    ) -> msgspec.Struct:
        endpoint = self._endpoints[(method, path)]
        if endpoint.role is not None and not allows(principal.role, endpoint.role):
            raise ProblemError(
                403, "Forbidden",
                f"{principal.name} has the {principal.role} role; this needs {endpoint.role}",
            )  # fmt: skip
        call = Call(
            request=request, mediator=self._mediator, snapshots=self._snapshots,
            principal=principal,
            query=None if endpoint.query is None
            else convert_fields(query or {}, endpoint.query, where="query"),
            body=None if endpoint.body is None
            else convert_fields(body or {}, endpoint.body, where="body"),
            params=params or {},
        )  # fmt: skip
        try:
            if endpoint.role == "operator":  # an action runs to its end, as in the API
                answer = await endpoint.handler(call)
            else:
                timeout = self._mediator.loaded.config.admin.request_timeout
                async with asyncio.timeout(timeout):
                    answer = await endpoint.handler(call)
        except JournalError as exc:
            raise ProblemError(503, "Service Unavailable", f"the journal: {exc.reason}") from None
        return answer[1] if isinstance(answer, tuple) else answer

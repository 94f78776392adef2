"""The Harvest API v2 sandbox: required headers, a sliding rate window, resources, locking."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec
from aiohttp import web

from mediator.clock import Clock
from mediator.codecs import WireDecoder
from mediator.errors import DecodeError
from mediator.sandbox.base import CONTROL_PREFIX, Handler, Sandbox, json_response
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.harvest.errors import HarvestError
from mediator.sandbox.harvest.fields import MAX_ID, check_body, label
from mediator.sandbox.harvest.listing import list_page, render
from mediator.sandbox.harvest.store import RESOURCES, HarvestStore

__all__ = ["HarvestSandbox"]


class HarvestSandbox(Sandbox):
    """A Harvest account over API v2, in memory.

    `tokens` maps bearer tokens to the account id they may use (`Harvest-Account-Id`).
    Each token may make `rate_limit` requests per sliding `rate_window` seconds; beyond that
    the answer is 429 with `Retry-After` (whole seconds until the window frees a slot).
    Approve entries with `approve()` (or `POST /__sandbox/approve`): they lock, and edits
    answer 422, as approved time in Harvest does.
    """

    product: ClassVar[str] = "harvest"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        tokens: Mapping[str, int] | None = None,
        rate_limit: int = 100,
        rate_window: float = 15.0,
    ) -> None:
        super().__init__(clock=clock, seed=seed, faults=faults)
        self.store = HarvestStore(self.clock)
        self.tokens = dict(tokens or {"sandbox-token": 1234567})
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.me: int | None = None  # the user the tokens act as (set by seeding)
        self._windows: dict[str, deque[float]] = {}

    def approve(self, resource: str, ids: list[int]) -> None:
        """Approve time entries or expenses by id: they become closed and locked."""
        for record_id in ids:
            self.store.approve(resource, record_id)

    def state(self) -> dict[str, object]:
        """Return every table, rendered as the API shows it."""
        return {
            name: [render(self.store, name, r) for r in table.values()]
            for name, table in self.store.tables.items()
        }

    def limit_response(self, retry_after: float) -> web.Response:
        """Answer 429 with `Retry-After` in whole seconds."""
        return json_response(
            {"status": 429, "error": "Too Many Requests"},
            status=429,
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def error_response(self, status: int, message: str) -> web.Response:
        """Answer `{"status", "error"}`, the shape Harvest uses outside validation errors."""
        return json_response({"status": status, "error": message}, status=status)

    def add_routes(self, app: web.Application) -> None:
        """Add `/v2/<resource>` collections and items, project-scoped assignments, `users/me`."""
        app.middlewares.append(self._api)
        app.router.add_get("/v2/users/me", self._me)
        resources = "{resource:" + "|".join(RESOURCES) + "}"
        app.router.add_get(f"/v2/{resources}", self._list)
        app.router.add_post(f"/v2/{resources}", self._create)
        app.router.add_get(f"/v2/{resources}/{{id:\\d+}}", self._read)
        app.router.add_patch(f"/v2/{resources}/{{id:\\d+}}", self._update)
        app.router.add_delete(f"/v2/{resources}/{{id:\\d+}}", self._delete)
        scoped = "/v2/projects/{project:\\d+}/{resource:user_assignments|task_assignments}"
        app.router.add_get(scoped, self._list)
        app.router.add_post(scoped, self._create)
        app.router.add_patch(scoped + "/{id:\\d+}", self._update)
        app.router.add_post(CONTROL_PREFIX + "approve", self._approve)

    @web.middleware
    async def _api(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v2/"):
            return await handler(request)
        if not request.headers.get("User-Agent"):
            return json_response(
                {
                    "error": "invalid_request",
                    "error_description": "A User-Agent header is required",
                },
                status=400,
            )
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or request.query.get("access_token", "")
        if token not in self.tokens:
            return json_response(
                {
                    "error": "invalid_token",
                    "error_description": "The access token provided is expired, revoked, "
                    "malformed or invalid for other reasons.",
                },
                status=401,
            )
        account = request.headers.get("Harvest-Account-Id") or request.query.get("account_id")
        if account != str(self.tokens[token]):
            return json_response(
                {
                    "error": "forbidden",
                    "error_description": "The Harvest-Account-Id is missing or not accessible "
                    "with this token.",
                },
                status=403,
            )
        window = self._windows.setdefault(token, deque())
        now = self.clock.monotonic()
        while window and window[0] <= now - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            return self.limit_response(window[0] + self.rate_window - now)
        window.append(now)
        try:
            return await handler(request)
        except HarvestError as exc:
            if exc.status == 422:
                return json_response({"message": exc.message}, status=422)
            return self.error_response(exc.status, exc.message)

    async def _me(self, request: web.Request) -> web.Response:
        if self.me is None:
            raise HarvestError(404, "Not Found")
        return json_response(render(self.store, "users", self.store.get("users", self.me)))

    async def _list(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        scope = (
            {"project_id": _path_id(request, "project")}
            if ("project" in request.match_info)
            else None
        )
        base = f"{request.scheme}://{request.host}{request.path}"
        return json_response(list_page(self.store, resource, request.query, base, scope))

    async def _read(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        record = self.store.get(resource, _path_id(request, "id"))
        return json_response(render(self.store, resource, record))

    async def _create(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        body = await _body(request)
        if "project" in request.match_info:
            body["project_id"] = self.store.get("projects", _path_id(request, "project"))["id"]
        record = self.store.create(resource, body, user_id=self.me)
        return json_response(render(self.store, resource, record), status=201)

    async def _update(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        record_id = _path_id(request, "id")
        if "project" in request.match_info:
            found = self.store.get(resource, record_id)
            if found["project_id"] != _path_id(request, "project"):
                raise HarvestError(404, "Not Found")
        record = self.store.update(resource, record_id, await _body(request))
        return json_response(render(self.store, resource, record))

    async def _delete(self, request: web.Request) -> web.Response:
        self.store.delete(request.match_info["resource"], _path_id(request, "id"))
        return web.Response(status=200)

    async def _approve(self, request: web.Request) -> web.Response:
        try:
            body = _APPROVALS.decode(await request.read() or b"{}")
        except DecodeError as exc:
            return json_response({"error": f"{exc.path}: {exc.reason}"}, status=400)
        try:
            for resource in ("time_entries", "expenses"):
                self.approve(resource, body.get(resource, []))
        except HarvestError as exc:
            return json_response({"message": exc.message}, status=exc.status)
        return json_response({"approved": body})


_APPROVALS = WireDecoder("harvest", dict[str, list[Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]]])
_JSON = WireDecoder("harvest", object)


def _path_id(request: web.Request, key: str) -> int:
    """The record id in the path; one longer than any id names no record (404, not a crash)."""
    text = request.match_info[key]
    if len(text) > 19 or int(text) > MAX_ID:
        raise HarvestError(404, "Not Found")
    return int(text)


async def _body(request: web.Request) -> dict[str, object]:
    """The request's fields, from JSON or a form, checked and cast (`fields.check_body`)."""
    if request.content_type == "application/json":
        try:
            decoded = _JSON.decode(await request.read() or b"{}")
        except DecodeError as exc:
            raise HarvestError(400, f"Malformed JSON: {exc.reason}") from exc
        if not isinstance(decoded, dict):
            raise HarvestError(422, "Body must be a JSON object")
        return check_body(decoded, form=False)
    form = await request.post()
    fields: dict[str, object] = {}
    for key, value in form.items():
        if not isinstance(value, str):  # a file upload where a field belongs
            raise HarvestError(422, f"{label(key)} is invalid")
        fields[key] = value
    return check_body(fields, form=True)

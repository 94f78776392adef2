"""The Tryton JSON-RPC sandbox: routes, the exact envelope rule, login and sessions.

`POST /<db>/rpc/` and `POST /<db>/` take database calls (`/<db>/rpc` without the slash is a
308, as werkzeug answers); `POST /` and `/rpc/` take server calls (`common.server.version`,
`common.db.list`). A body with exactly the keys id, method and params gets the envelope
`{id, result}` / `{id, error}` with HTTP 200; any other body gets the bare result and errors
as HTTP statuses (UserError 400, LoginException 403, UserWarning 409, Concurrency 423, others
500). Authentication, the method whitelist and the context rule answer 401/403/422
whatever the envelope.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import ClassVar

from aiohttp import web

from mediator.clock import Clock
from mediator.codecs import (
    RpcValue,
    TrytonFault,
    TrytonRequest,
    TrytonResponse,
    decode_tryton_request,
    encode_tryton_response,
    tryton_dumps,
)
from mediator.errors import DecodeError
from mediator.sandbox.base import Sandbox
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.tryton.database import TrytonDatabase
from mediator.sandbox.tryton.errors import HttpRefusal, RpcFault
from mediator.sandbox.tryton.invoices import PayWizard
from mediator.sandbox.tryton.reference import CompanySetup, install_company
from mediator.sandbox.tryton.rpc import call_model, call_wizard, known_methods
from mediator.sandbox.tryton.sessions import Sessions

__all__ = ["TrytonSandbox"]

_BARE_STATUS = {
    "UserError": 400,
    "UserWarning": 409,
    "LoginException": 403,
    "ConcurrencyException": 423,
    "RateLimitException": 429,
}
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _html(status: int, text: str = "", headers: Mapping[str, str] | None = None) -> web.Response:
    # werkzeug's error page, which is what trytond's aborts produce
    reason = _REASONS.get(status, "Error")
    body = (
        (
            f"<!doctype html>\n<html lang=en>\n<title>{status} {reason}</title>\n"
            f"<h1>{reason}</h1>\n<p>{text}</p>\n"
        )
        if text
        else ""
    )
    return web.Response(
        status=status, text=body, content_type="text/html", headers=dict(headers or {})
    )


class TrytonSandbox(Sandbox):
    """A trytond 8.2 server over JSON-RPC with one database, in memory.

    `users` maps logins to passwords (the first is the administrator of the company that
    `setup` describes). Sessions idle longer than `session_timeout` are no longer "fresh"
    (`account.invoice.post` then answers 401); more than `max_attempts` failed logins for a
    name within `session_timeout` answer 429.
    """

    product: ClassVar[str] = "tryton"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        database: str = "tryton",
        users: Mapping[str, str] | None = None,
        session_timeout: float = 300.0,
        max_attempts: int = 5,
    ) -> None:
        super().__init__(clock=clock, seed=seed, faults=faults)
        self.database = database
        self.users = dict(users or {"admin": "admin"})
        self.db = TrytonDatabase(self.clock, seed=seed)
        self.setup: CompanySetup = install_company(self.db, login=next(iter(self.users)))
        self.sessions = Sessions(self.clock, timeout=session_timeout, max_attempts=max_attempts)
        self.wizards = {"account.invoice.pay": PayWizard()}
        self.employee: int | None = None

    def state(self) -> dict[str, object]:
        """Return every table (tagged values encoded as Tryton JSON would carry them)."""
        return {
            "tables": {model: list(rows.values()) for model, rows in self.db.tables.items() if rows}
        }

    def limit_response(self, retry_after: float) -> web.Response:
        """Answer 429, which Tryton only sends from its login throttle."""
        return _html(429, "Too many requests")

    def error_response(self, status: int, message: str) -> web.Response:
        """Answer werkzeug's HTML error page."""
        return _html(status, message)

    def add_routes(self, app: web.Application) -> None:
        """Add the server-level and database-level JSON-RPC routes."""
        for path in ("/", "/rpc/"):
            app.router.add_post(path, self._server)
        app.router.add_post("/{db}/rpc/", self._call)
        app.router.add_post("/{db}/", self._call)
        app.router.add_post("/{db}/rpc", self._redirect)

    def preferences(self) -> dict[str, object]:
        """Return what `res.user.get_preferences` answers: the user context."""
        setup = self.setup
        return {
            "company": setup.company,
            "companies": [setup.company],
            "employee": self.employee,
            "employees": [self.employee] if self.employee else [],
            "language": "en",
            "language_direction": "ltr",
            "locale": {
                "date": "%m/%d/%Y",
                "decimal_point": ".",
                "thousands_sep": ",",
                "grouping": [3, 3, 0],
            },
            "groups": [1],
        }

    async def _redirect(self, request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": request.path + "/"})

    async def _server(self, request: web.Request) -> web.Response:
        return await self._answer(request, None)

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["db"] != self.database:
            return _html(503, f"Database '{request.match_info['db']}' doesn't exist!")
        return await self._answer(request, self.database)

    async def _answer(self, request: web.Request, database: str | None) -> web.Response:
        if "json" not in request.content_type:
            return _html(400, "Not a RPC request")
        try:
            call = decode_tryton_request(await request.read())
        except DecodeError:
            return _html(400, "Unable to get RPC method")
        try:
            with self.db.transaction():
                result = self._dispatch(request, call, database)
        except HttpRefusal as refusal:
            return _html(refusal.status, refusal.text, refusal.headers)
        except RpcFault as exc:
            if call.envelope:
                body = encode_tryton_response(TrytonResponse(id=call.id, error=exc.fault))
                return web.Response(body=body, content_type="application/json")
            return web.Response(
                body=tryton_dumps(exc.fault.to_wire()),
                content_type="application/json",
                status=_BARE_STATUS.get(exc.fault.name, 500),
            )
        if call.envelope:
            body = encode_tryton_response(TrytonResponse(id=call.id, result=result))  # type: ignore[arg-type]
        else:
            body = tryton_dumps(result)
        return web.Response(body=body, content_type="application/json")

    def _dispatch(self, request: web.Request, call: TrytonRequest, database: str | None) -> object:
        method, params = call.method, call.params
        if database is None:
            if method == "common.server.version":
                return "8.2"
            if method == "common.db.list":
                return [self.database]
            if method == "common.authentication.services":
                return []
            raise HttpRefusal(404, f"Method {method} not found")
        if method == "common.db.login":
            return self._login(params)
        if method == "system.listMethods":
            return known_methods()
        session = self.sessions.authenticate(request.headers, self.users)
        if method == "common.db.logout":
            self.sessions.logout(session)
            return None
        kind, _, rest = method.partition(".")
        name, _, verb = rest.rpartition(".")
        if kind == "model":
            if (name, verb) == ("account.invoice", "post"):
                self.sessions.require_fresh(session)
            return call_model(self.db, name, verb, params, self.preferences())
        if kind == "wizard":
            return call_wizard(self.db, self.wizards, name, verb, params)
        raise HttpRefusal(403, f"Calling {method} is not allowed.")

    def _login(self, params: list[RpcValue]) -> object:
        login = params[0] if params and isinstance(params[0], str) else ""
        parameters = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        password = parameters.get("password")
        if not isinstance(password, str):
            raise RpcFault(TrytonFault.login_exception("password", "Password", "password"))
        self.sessions.check_attempts(login)
        if self.users.get(login) != password:
            self.sessions.failed(login)
            raise HttpRefusal(401, "The server could not verify that you are authorized.")
        user_id = (
            self.setup.user
            if login == next(iter(self.users))
            else 1 + list(self.users).index(login)
        )
        key = f"{self.db.rng.getrandbits(256):064x}"  # seeded, so runs are reproducible
        self.sessions.open(login, user_id, key)
        return [user_id, key, None]


def session_header(login: str, user_id: int, key: str) -> str:
    """Return the `Authorization` value for a session: `Session base64(login:id:key)`."""
    return "Session " + base64.b64encode(f"{login}:{user_id}:{key}".encode()).decode()

"""The Tryton JSON-RPC sandbox: routes, the exact envelope rule, login, sessions and access.

`POST /<db>/rpc/` takes database calls (`/<db>/rpc` without the slash is a 308, as werkzeug
answers); `POST /<db>/`, the route of trytond 6 and 7, is served too unless `legacy_root` is
off (trytond 8.2 answers 405 there). `POST /` and `/rpc/` take server calls. A body with exactly
the keys id, method and params gets the envelope `{id, result}` / `{id, error}` with HTTP 200;
any other body gets the bare result, and errors as werkzeug HTML pages with a status (UserError
400, LoginException 403, UserWarning 409, Concurrency 423, others 500). Authentication, the
method whitelist and the context rule answer 401/403/422 whatever the envelope. Every answer
carries `Connection: close`. The wording was checked against trytond 8.2 under gunicorn
(tests/tryton_real).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import ClassVar

from aiohttp import web

from mediator.clock import Clock
from mediator.codecs.tryton import RpcValue, TrytonFault
from mediator.codecs.tryton.mapping import ErpSetup
from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.sandbox.base import Handler, Sandbox
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.tryton.arguments import REPORT_EXECUTE, check_arity, server_error
from mediator.sandbox.tryton.database import TrytonDatabase
from mediator.sandbox.tryton.envelope import Call, encode_answer, method_error, read_call, spread
from mediator.sandbox.tryton.errors import HttpRefusal, RpcFault, user_error
from mediator.sandbox.tryton.invoices import PayWizard
from mediator.sandbox.tryton.reference import CompanySetup, install_company
from mediator.sandbox.tryton.rpc import call_model, call_wizard, known_methods, split_context
from mediator.sandbox.tryton.sessions import Session, Sessions

__all__ = ["TrytonSandbox", "session_header"]

_BARE_STATUS = {
    "UserError": 400,
    "UserWarning": 409,
    "LoginException": 403,
    "ConcurrencyException": 423,
    "RateLimitException": 429,
}
# werkzeug's reasons and default descriptions, which trytond's aborts show
_PAGES = {
    400: (
        "Bad Request",
        "The browser (or proxy) sent a request that this server could not understand.",
    ),
    401: (
        "Unauthorized",
        "The server could not verify that you are authorized to access the "
        "URL requested. You either supplied the wrong credentials (e.g. a bad password), or "
        "your browser doesn't understand how to supply the credentials required.",
    ),
    403: (
        "Forbidden",
        "You don't have the permission to access the requested resource. It is "
        "either read-protected or not readable by the server.",
    ),
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL "
        "manually please check your spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    409: ("Conflict", "A conflict happened while processing the request."),
    413: ("Request Entity Too Large", "The data value transmitted exceeds the capacity limit."),
    422: (
        "Unprocessable Entity",
        "The request was well-formed but was unable to be followed due to semantic errors.",
    ),
    423: ("Locked", "The resource that is being accessed is locked."),
    429: (
        "Too Many Requests",
        "This user has exceeded an allotted request count. Try again later.",
    ),
    500: (
        "Internal Server Error",
        "The server encountered an internal error and was unable to complete your request.",
    ),
    503: ("Service Unavailable", "The server is temporarily unable to service your request."),
}
# models whose ir.model.access needs a group (a user in no group gets an AccessError)
_GUARDED = {
    "account.invoice": "Account Invoice",
    "account.invoice.line": "Account Invoice Line",
    "account.account": "Account",
    "account.journal": "Account Journal",
}


def _page(status: int, text: str = "", headers: Mapping[str, str] | None = None) -> web.Response:
    reason, default = _PAGES.get(status, ("Error", ""))
    body = (
        f"<!doctype html>\n<html lang=en>\n<title>{status} {reason}</title>\n"
        # markupsafe, which werkzeug uses, escapes an apostrophe as &#39;
        f"<h1>{reason}</h1>\n<p>{html.escape(text or default).replace('&#x27;', '&#39;')}</p>\n"
    )
    return web.Response(
        status=status,
        text=body,
        content_type="text/html",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def session_header(login: str, user_id: int, key: str) -> str:
    """Return the `Authorization` value for a session: `Session base64(login:id:key)`."""
    return "Session " + base64.b64encode(f"{login}:{user_id}:{key}".encode()).decode()


class TrytonSandbox(Sandbox):
    """A trytond 8.2 server over JSON-RPC with one database, in memory.

    `users` maps logins to passwords of administrators (the first one administers the company
    that `setup` describes); users created over RPC with a password can log in too, but belong
    to no group, so accounting models refuse them. Sessions idle longer than
    `session_timeout` are no longer "fresh"; more than `max_attempts` failed logins for a name
    within `session_timeout` answer 429.
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
        legacy_root: bool = True,
    ) -> None:
        super().__init__(clock=clock, seed=seed, faults=faults)
        self.database = database
        self.legacy_root = legacy_root
        admins = dict(users or {"admin": "admin"})
        self.db = TrytonDatabase(self.clock, seed=seed)
        first, *others = admins.items()
        self.admin_login, self.admin_password = first
        self.setup: CompanySetup = install_company(self.db, login=first[0], password=first[1])
        for login, password in others:
            [user] = self.db.create(
                "res.user",
                [
                    {
                        "name": login,
                        "login": login,
                        "password": password,
                        "company": self.setup.company,
                    }
                ],
            )
            self.db.tables["res.user"][user]["_groups"] = ["administration", "account"]
        self.sessions = Sessions(self.clock, timeout=session_timeout, max_attempts=max_attempts)
        self.wizards = {"account.invoice.pay": PayWizard()}
        self.employee: int | None = None

    def erp_setup(self) -> ErpSetup:
        """The company and accounting ids this database was installed with, as a connector's
        `[systems.tryton.erp]` names them."""
        ids = self.setup
        return ErpSetup(
            company=ids.company,
            currency=ids.currency,
            journal=ids.journal,
            receivable_account=ids.receivable,
            revenue_account=ids.revenue,
            payment_term=ids.payment_term,
            product=ids.product,
            unit=ids.unit,
        )

    def state(self) -> dict[str, object]:
        """Return every non-empty table."""
        return {
            "tables": {
                model: [
                    {k: v for k, v in r.items() if not k.startswith("_") and k != "password"}
                    for r in rows.values()
                ]
                for model, rows in self.db.tables.items()
                if rows
            }
        }

    def limit_response(self, retry_after: float) -> web.Response:
        """Answer 429, which Tryton only sends from its login throttle."""
        return _page(429)

    def error_response(self, status: int, message: str) -> web.Response:
        """Answer werkzeug's HTML error page for `status`."""
        return _page(status)

    def add_routes(self, app: web.Application) -> None:
        """Add the server-level and database-level JSON-RPC routes."""
        app.middlewares.append(self._close)
        for path in ("/", "/rpc/"):
            app.router.add_post(path, self._server)
        app.router.add_post("/{db}/rpc/", self._call)
        app.router.add_post("/{db}/", self._call if self.legacy_root else self._not_allowed)
        app.router.add_post("/{db}/rpc", self._redirect)

    def preferences(self, user_id: int) -> dict[str, object]:
        """Return what `res.user.get_preferences` answers: the user's context."""
        user = self.db.tables["res.user"].get(user_id, {})
        company = user.get("company") or self.setup.company
        employee = user.get("employee") or self.employee
        return {
            "company": company,
            "companies": [company],
            "employee": employee,
            "employees": [employee] if employee else [],
            "language": "en",
            "language_direction": "ltr",
            "groups": [],
            "locale": {
                "date": "%m/%d/%Y",
                "decimal_point": ".",
                "thousands_sep": ",",
                "grouping": [3, 3, 0],
            },
        }

    @web.middleware
    async def _close(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # trytond under werkzeug/gunicorn closes every connection
        response = await handler(request)
        response.force_close()
        response.headers["Connection"] = "close"
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": request.path + "/"})

    async def _not_allowed(self, request: web.Request) -> web.Response:
        return _page(405)

    async def _server(self, request: web.Request) -> web.Response:
        return await self._answer(request, None)

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["db"] != self.database:
            return _page(404)
        return await self._answer(request, self.database)

    async def _answer(self, request: web.Request, database: str | None) -> web.Response:
        if "json" not in request.content_type:
            return _page(400, "Not a RPC request")
        try:
            call = read_call(await request.read())
            with self.db.transaction():
                result = self._dispatch(request, call, database)
        except HttpRefusal as refusal:
            if refusal.plain:
                return web.Response(
                    status=refusal.status,
                    text="",
                    content_type="text/plain",
                    charset="utf-8",
                    headers=refusal.headers,
                )
            return _page(refusal.status, refusal.text, refusal.headers)
        except RpcFault as exc:
            if call.envelope:
                body = encode_answer(call, fault=exc.fault)
                return web.Response(body=body, content_type="application/json")
            return _page(_BARE_STATUS.get(exc.fault.name, 500), exc.fault.message)
        body = encode_answer(call, result=result) if call.envelope else tryton_dumps(result)
        return web.Response(body=body, content_type="application/json")

    def _dispatch(self, request: web.Request, call: Call, database: str | None) -> object:
        method, params = call.method, spread(call.params)
        if database is None:
            if method == "common.server.version":
                return "8.2"
            if method == "common.db.list":
                return [self.database]
            if method == "common.authentication.services":
                return []
            raise HttpRefusal(403)
        method_error(method, authenticated=False)
        if method == "common.db.login":
            return self._login(params)
        session = self.sessions.authenticate(request.headers, self._verify)
        method_error(method, authenticated=True)
        assert isinstance(method, str)  # method_error refused anything else
        if method == "common.db.logout":
            self.sessions.logout(session)
            return None
        if method == "system.listMethods":
            return known_methods()
        # trytond's get_object_method: the kind, then the pool's lookup of the middle part
        if "." not in method:
            raise server_error("not enough values to unpack (expected 2, got 1)")
        parts = method.split(".")
        kind, name, verb = parts[0], ".".join(parts[1:-1]), parts[-1]
        if kind == "report":  # the pool makes a Report class for any name; none can render
            if verb != "execute":
                raise HttpRefusal(403)
            args, _ = split_context(params)
            check_arity(verb, args, signature=REPORT_EXECUTE)
            raise server_error(f"<class 'trytond.pool.{name}'> not found")
        if kind == "model":
            if (name, verb) == ("account.invoice", "post"):
                self.sessions.require_fresh(session, request.headers)
            self._check_access(session, name)
            return call_model(self.db, name, verb, params, self.preferences(session.user_id))
        if kind == "wizard":
            self._check_access(session, "account.invoice")
            return call_wizard(self.db, self.wizards, name, verb, params)
        raise server_error(repr(name))  # the pool has no objects of that kind

    def _check_access(self, session: Session, model: str) -> None:
        label = _GUARDED.get(model)
        user = self.db.tables["res.user"].get(session.user_id, {})
        if label is not None and not user.get("_groups"):
            raise user_error(f'You are not allowed to access "{label}".', "Within groups: ")

    def _verify(self, login: str, password: str) -> int | None:
        for user in self.db.tables["res.user"].values():
            if user["login"] == login and user.get("password") == password:
                return int(str(user["id"]))
        return None

    def _login(self, params: list[RpcValue]) -> object:
        login = params[0] if params and isinstance(params[0], str) else ""
        parameters = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        password = parameters.get("password")
        if not isinstance(password, str):
            raise RpcFault(TrytonFault.login_exception("password", f"Password for {login}"))
        self.sessions.check_attempts(login)
        user_id = self._verify(login, password)
        if user_id is None:
            self.sessions.failed(login)
            raise HttpRefusal(401)
        key = f"{self.db.rng.getrandbits(256):064x}"  # seeded, so runs are reproducible
        self.sessions.open(login, user_id, key)
        return [user_id, key, None]

"""The dashboard's gate and frame: sessions, CSRF and same-origin checks, headers, layout.

Every dashboard route is a `Route` of a `Page`, served through `Dashboard.serve`, which
finds the request's session (no session: a GET goes to the login page, anything else is
refused), and for a POST checks, before the handler sees it, that the request comes from
the dashboard's own origin (`Origin`, or `Referer` when a browser sends no `Origin`), that
the form carries the session's CSRF token, and that the session's role may act (a viewer's
forged POST is a 403 whatever its form says). Handlers get a `View`: the request, the
session, the form, and the admin API's endpoints bound to the session's principal.
Every answer carries a strict Content-Security-Policy (scripts, styles and fetches from the
daemon's own origin only), no caching, and no framing; a `ProblemError` or a missed
deadline is an HTML page with its status.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal, TypeVar

import msgspec
from aiohttp import web
from multidict import MultiDictProxy

from mediator.admin.auth import Principal, Role, allows
from mediator.admin.problems import Problem, ProblemError
from mediator.dashboard.calls import AdminCalls
from mediator.dashboard.html import esc, hidden
from mediator.dashboard.sessions import Session, SessionStore

__all__ = [
    "LOGIN_PATH",
    "SESSION_COOKIE",
    "Dashboard",
    "Page",
    "Route",
    "View",
    "html_response",
    "same_origin",
    "secure_headers",
]

S = TypeVar("S", bound=msgspec.Struct)
SESSION_COOKIE = "mediator_session"
LOGIN_PATH = "/ui/login"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Route:
    """One URL of a page: a GET shows, a POST acts (and needs `needs`)."""

    method: Literal["GET", "POST"]
    path: str
    handler: Callable[[View], Awaitable[web.StreamResponse]]
    needs: Role = "viewer"
    #: a fragment for the live refresh: no session is a 401, not a redirect to the login
    fragment: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Page:
    """A page of the navigation: its title, the link, and its routes."""

    title: str
    path: str
    routes: tuple[Route, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class View:
    """What a handler works with: the request, the session, the form of a POST, the site."""

    request: web.Request
    session: Session
    form: _Form | None
    site: Dashboard

    @property
    def principal(self) -> Principal:
        """Who is logged in."""
        return self.session.principal

    @property
    def can_act(self) -> bool:
        """Whether this session may act (operators do; viewers see no action buttons)."""
        return allows(self.principal.role, "operator")

    def field(self, name: str) -> str:
        """A text field of the form or, for a GET, the query (empty when absent)."""
        source = self.form if self.form is not None else self.request.query
        value = source.get(name)
        return value.strip() if isinstance(value, str) else ""

    def csrf(self) -> str:
        """The hidden CSRF field every form of this session carries."""
        return hidden("csrf", self.session.csrf)

    async def get(
        self,
        answer: type[S],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
    ) -> S:
        """``GET path`` of the admin API as this session's principal (see `AdminCalls.get`)."""
        return await self.site.calls.get(
            answer, path, request=self.request, principal=self.principal, params=params,
            query=query,
        )  # fmt: skip

    async def post(
        self,
        answer: type[S],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> S:
        """``POST path`` of the admin API as this session's principal (see `AdminCalls.post`)."""
        return await self.site.calls.post(
            answer, path, request=self.request, principal=self.principal, params=params,
            body=body,
        )  # fmt: skip

    def page(self, title: str, body: str, *, status: int = 200, current: str = "") -> web.Response:
        """The HTML page `title` around `body` (the session's messages shown first)."""
        return html_response(
            self.site.layout(title=title, body=body, session=self.session, current=current),
            status=status,
        )

    def reason_missing(self, back: str) -> web.Response | None:
        """The redirect to `back` saying a reason is required when the form gave none (an act
        the audit log keeps must say why); None when it gave one."""
        if self.field("reason"):
            return None
        return self.redirect(
            back, say="Say why: a reason is required (the audit log keeps it).", error=True
        )

    def redirect(
        self, location: str, *, say: str | None = None, error: bool = False
    ) -> web.Response:
        """A 303 to `location` (after an action), with a message for its page."""
        if say is not None:
            self.session.say(say, level="error" if error else "ok")
        return web.Response(status=303, headers={"Location": location})


class Dashboard:
    """The dashboard's routes on the admin API's application."""

    def __init__(self, *, calls: AdminCalls, sessions: SessionStore, pages: Sequence[Page]) -> None:
        self.calls = calls
        self.sessions = sessions
        self.pages = tuple(pages)

    def add_routes(self, app: web.Application) -> None:
        """Add every page's routes to `app`."""
        for page in self.pages:
            for route in page.routes:

                async def handle(request: web.Request, route: Route = route) -> web.StreamResponse:
                    return await self.serve(route, request)

                app.router.add_route(route.method, route.path, handle)

    async def serve(self, route: Route, request: web.Request) -> web.StreamResponse:
        """Answer `request` with `route` once the session, origin, CSRF token and role pass."""
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        try:
            if session is None:
                if route.method == "GET" and not route.fragment:
                    target = urllib.parse.urlencode({"next": request.path_qs})
                    response: web.StreamResponse = web.Response(
                        status=303, headers={"Location": f"{LOGIN_PATH}?{target}"}
                    )
                    return secure_headers(response)
                raise ProblemError(401, "Unauthorized", "no session (or it ended): log in again")
            form = None
            if route.method == "POST":
                if not same_origin(request):
                    raise ProblemError(403, "Forbidden", "the request did not come from this site")
                form = await request.post()
                presented = form.get("csrf")
                if not session.csrf_matches(presented if isinstance(presented, str) else None):
                    raise ProblemError(
                        403, "Forbidden", "the form's CSRF token is missing or wrong: reload the "
                        "page and try again", field="body.csrf",
                    )  # fmt: skip
                if not allows(session.principal.role, route.needs):
                    raise ProblemError(
                        403, "Forbidden", f"{session.principal.name} has the "
                        f"{session.principal.role} role; this needs {route.needs}",
                    )  # fmt: skip
            view = View(request=request, session=session, form=form, site=self)
            response = await route.handler(view)
        except ProblemError as exc:
            response = self.problem_page(exc.problem, session, fragment=route.fragment)
        except web.HTTPException as exc:  # a form over `[admin] max_body`: 413
            if exc.status < 400:
                raise
            detail = "the form is too large" if exc.status == 413 else exc.text
            problem = Problem(type="about:blank", title=exc.reason, status=exc.status,
                              detail=detail)  # fmt: skip
            response = self.problem_page(problem, session, fragment=route.fragment)
        except TimeoutError:
            problem = Problem(type="about:blank", title="Gateway Timeout", status=504,
                              detail="the daemon took too long to answer")  # fmt: skip
            response = self.problem_page(problem, session, fragment=route.fragment)
        return secure_headers(response)

    def problem_page(
        self, problem: Problem, session: Session | None, *, fragment: bool = False
    ) -> web.Response:
        """`problem` as an HTML page (or, for a fragment, a paragraph) with its status."""
        where = f" ({esc(problem.field)})" if problem.field else ""
        text = f'<p class="problem" role="alert">{esc(problem.detail or problem.title)}{where}</p>'
        if fragment:
            return html_response(text, status=problem.status)
        body = text
        if problem.status == 401:
            body += f'<p><a href="{LOGIN_PATH}">Log in</a></p>'
        return html_response(
            self.layout(title=f"{problem.status} {problem.title}", body=body, session=session),
            status=problem.status,
        )

    def layout(self, *, title: str, body: str, session: Session | None, current: str = "") -> str:
        """The frame of every page: navigation (from the pages), who is logged in, messages."""
        nav = ""
        account = ""
        messages = ""
        if session is not None:
            links = "".join(
                f'<li><a href="{esc(p.path)}"'
                + (' aria-current="page"' if p.path == current else "")
                + f">{esc(p.title)}</a></li>"
                for p in self.pages
                if p.path
            )
            nav = f'<nav aria-label="Pages"><ul>{links}</ul></nav>'
            who = session.principal
            account = (
                f'<form class="account" method="post" action="/ui/logout">'
                f'<span>{esc(who.name)} <span class="role">({esc(who.role)})</span></span>'
                f'{hidden("csrf", session.csrf)}<button type="submit">Log out</button></form>'
            )
            messages = "".join(
                f'<p class="flash {esc(level)}" role="{"alert" if level == "error" else "status"}">'
                f"{esc(text)}</p>"
                for level, text in session.take_flash()
            )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} · mediator</title>"
            '<link rel="stylesheet" href="/ui/static/dashboard.css">'
            '<script src="/ui/static/dashboard.js" defer></script></head><body>'
            '<a class="skip" href="#main">Skip to the content</a>'
            f'<header><p class="brand">mediator</p>{nav}{account}</header>'
            f'<main id="main" tabindex="-1"><h1>{esc(title)}</h1>{messages}{body}</main>'
            "</body></html>"
        )


def html_response(text: str, *, status: int = 200) -> web.Response:
    """`text` as an HTML answer."""
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def same_origin(request: web.Request) -> bool:
    """Whether a browser says `request` comes from a page of this host (`Origin`, else
    `Referer`; neither is a refusal).

    The host is compared, not the scheme: a TLS proxy in front makes the daemon see http for
    the browser's https, and a page of another scheme on this very host is no other site.
    """
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        origin = request.headers.get("Referer")
    if not origin:
        return False
    return urllib.parse.urlsplit(origin).netloc.lower() == request.host.lower()


def secure_headers(response: web.StreamResponse) -> web.StreamResponse:
    """Add the dashboard's headers: CSP, no sniffing, no framing, no caching, no referrer
    leaving the site."""
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response

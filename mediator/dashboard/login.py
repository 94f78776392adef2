"""Logging in with an admin token, and out.

The login form takes one of the `[[admin.tokens]]` values; the server checks it against the
`TokenTable` (constant time, as the API does) and, if it names a principal, opens a session
and sets its id in a cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
page sends it), Path=/, and Secure when the dashboard is served over https. The form itself
is protected from cross-site posting (a forged login would log the victim in as the
attacker) by a one-time value in a cookie of its own that the form must repeat, and by the
same-origin check of every other POST. Logging out ends the session on the server, not only
in the browser.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from aiohttp import web

from mediator.admin.auth import TokenTable
from mediator.dashboard.html import esc, hidden
from mediator.dashboard.sessions import Session, SessionStore
from mediator.dashboard.site import (
    LOGIN_PATH,
    SESSION_COOKIE,
    Route,
    View,
    html_response,
    same_origin,
    secure_headers,
)

__all__ = ["LOGIN_COOKIE", "Login", "logout_route"]

LOGIN_COOKIE = "mediator_login"
_HOME = "/ui/"


class Login:
    """The login page of `tokens`, opening sessions in `sessions`."""

    def __init__(self, *, tokens: TokenTable, sessions: SessionStore, layout: _Layout) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._layout = layout

    def add_routes(self, app: web.Application) -> None:
        """Add ``GET`` and ``POST /ui/login``, and ``/`` and ``/ui`` (to the overview)."""
        app.router.add_get(LOGIN_PATH, self.show)
        app.router.add_post(LOGIN_PATH, self.log_in)

        async def home(request: web.Request) -> web.StreamResponse:
            return secure_headers(web.Response(status=302, headers={"Location": _HOME}))

        app.router.add_get("/", home)
        app.router.add_get("/ui", home)

    async def show(self, request: web.Request) -> web.StreamResponse:
        """The login form, with a fresh anti-forgery value in its cookie and a hidden field."""
        return self._form(request, _next(request.query.get("next")), status=200, error=None)

    async def log_in(self, request: web.Request) -> web.StreamResponse:
        """Check the token; open a session and go to the page asked for, or show the form
        again with why not (403 for a forged form, 401 for a token that is not valid)."""
        form = await request.post()
        target = _next(_text(form.get("next")))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = _text(form.get("csrf"))
        if (
            not same_origin(request)
            or not expected
            or not secrets.compare_digest(given.encode(), expected.encode())
        ):
            return self._form(request, target, status=403,
                              error="This form expired or did not come from this site: "
                              "try again.")  # fmt: skip
        principal = self._tokens.principal_of(_text(form.get("token")))
        if principal is None:
            return self._form(request, target, status=401, error="That token is not valid.")
        session_id, _ = self._sessions.open(principal)
        response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(
            SESSION_COOKIE, session_id, path="/", httponly=True, samesite="Strict",
            secure=request.secure,
        )  # fmt: skip
        response.del_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
        return secure_headers(response)

    def _form(
        self, request: web.Request, target: str, *, status: int, error: str | None
    ) -> web.StreamResponse:
        nonce = secrets.token_urlsafe(32)
        problem = f'<p class="flash error" role="alert">{esc(error)}</p>' if error else ""
        body = (
            f"{problem}"
            f'<form class="login" method="post" action="{LOGIN_PATH}">'
            f"{hidden('csrf', nonce)}{hidden('next', target)}"
            '<p><label for="token">Admin token</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password" '
            "required autofocus></p>"
            '<p class="hint">One of the <code>[[admin.tokens]]</code> of the daemon\'s '
            "configuration: a viewer token reads, an operator token also acts.</p>"
            '<p><button type="submit">Log in</button></p></form>'
        )
        response = html_response(self._layout(title="Log in", body=body, session=None),
                                 status=status)  # fmt: skip
        response.set_cookie(
            LOGIN_COOKIE, nonce, path=LOGIN_PATH, httponly=True, samesite="Strict",
            secure=request.secure, max_age=3600,
        )  # fmt: skip
        return secure_headers(response)


async def _logout(view: View) -> web.StreamResponse:
    view.site.sessions.close(view.request.cookies.get(SESSION_COOKIE))
    response = web.Response(status=303, headers={"Location": LOGIN_PATH})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


logout_route = Route(method="POST", path="/ui/logout", handler=_logout)


class _Layout(Protocol):
    """The site's `layout` (what `Dashboard.layout` is)."""

    def __call__(self, *, title: str, body: str, session: Session | None) -> str: ...


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _next(value: str | None) -> str:
    # only a page of the dashboard: never another site (``//evil``) nor the API
    if value and value.startswith("/ui/") and value != LOGIN_PATH:
        return value
    return _HOME

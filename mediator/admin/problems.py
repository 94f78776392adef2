"""Errors of the admin API as RFC 9457 problem details, and the middleware that makes them.

Every answer that is not a success is ``application/problem+json`` with `type`, `title`,
`status`, `detail` and, when one field of the request is at fault, `field` (``query.limit``,
``body.reason``, ``path.id``): unknown routes and methods, a body over `[admin] max_body`,
JSON that does not parse or nests too deep, a request that outlasts `[admin]
request_timeout`, and our own bugs (500, logged with the traceback here, never sent).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["Problem", "ProblemError", "problem_middleware", "problem_response"]

_log = logging.getLogger("mediator.admin")
_encoder = msgspec.json.Encoder()
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem: what went wrong, and the request field at fault if one is."""

    #: always ``about:blank``: the status and title say it all (RFC 9457 §4.2.1)
    type: str
    title: str
    status: int
    detail: str | None = None
    #: where in the request the fault is: ``query.<name>``, ``path.<name>``, ``body.<path>``
    field: str | None = None


class ProblemError(Exception):
    """Raised by a handler to answer with a problem (status, title, detail, field)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.problem = Problem(
            type="about:blank", title=title, status=status, detail=detail, field=field
        )
        self.headers = headers or {}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> web.Response:
    """The HTTP answer of `problem`; one that refuses a body half-read (408, 413, 415) closes
    the connection, whose stream is no longer framed."""
    answer = web.Response(
        body=_encoder.encode(problem),
        status=problem.status,
        content_type="application/problem+json",
        headers=headers,
    )
    if problem.status in _UNREAD:
        answer.force_close()
    return answer


_UNREAD = frozenset({408, 413, 415})
_INTERNAL = Problem(
    type="about:blank", title="Internal Server Error", status=500, detail="see the daemon's log"
)


def problem_middleware(
    *,
    max_body: int,
    timeout: float | None = None,
    listener: str = "admin API",
    log: logging.Logger = _log,
) -> Middleware:
    """The middleware that turns every failure into a problem: `max_body` is the size limit a
    413 names; with `timeout`, a `TimeoutError` is the 504 of `timeout` seconds (the admin
    handlers keep that deadline, see app.py); any other failure is logged on `log` as the
    `listener`'s and answered 500."""

    @web.middleware
    async def problems(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ProblemError as exc:
            return problem_response(exc.problem, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            detail = None
            if isinstance(exc, web.HTTPRequestEntityTooLarge):
                detail = f"the body is larger than the limit of {max_body} bytes"
            elif isinstance(exc, web.HTTPMethodNotAllowed):
                detail = f"{request.method} is not allowed here; allowed: " + ", ".join(
                    sorted(exc.allowed_methods)
                )
            elif exc.status == 404:
                detail = f"no such endpoint: {request.path}"
            problem = Problem(
                type="about:blank", title=exc.reason, status=exc.status, detail=detail, field=None
            )
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return problem_response(problem, headers)
        except TimeoutError:
            if timeout is None:  # not a deadline of ours: a failure like any other
                log.exception("%s: %s %s failed", listener, request.method, request.path)
                return problem_response(_INTERNAL)
            problem = Problem(
                type="about:blank",
                title="Gateway Timeout",
                status=504,
                detail=f"the request took longer than {timeout:g} s",
            )
            return problem_response(problem)
        except Exception:  # the server supervises its handlers: log, answer 500
            log.exception("%s: %s %s failed", listener, request.method, request.path)
            return problem_response(_INTERNAL)

    return problems

"""An aiohttp runner whose protocol-level errors are problem+json too.

aiohttp answers what never reaches the application — a header line over 8,190 bytes, a
Content-Length that is not a number, a request line that is not HTTP — with a ``text/plain``
400 of its own and logs it with a traceback at ERROR. A listener of ours answers everything
in RFC 9457 JSON: `ProblemAppRunner` serves an application with a request handler whose
error answer is a problem (the reason in our words, no echo of the request's bytes), logged
on one line at INFO (a client's fault is not our error); a 5xx keeps its traceback in the
log and out of the answer.
"""

from __future__ import annotations

import http
import logging

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

__all__ = ["ProblemAppRunner"]

_log = logging.getLogger("mediator.ingress")


class _ProblemRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("error handling a request from %s", request.remote, exc_info=exc)
        else:
            _log.info("refused a malformed request from %s: %s", request.remote, _reason(exc))
        if request.writer.output_size > 0:  # an answer was begun: only closing is left
            raise ConnectionError("an answer was sent already, the error cannot follow it")
        try:
            title = http.HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        detail = _reason(exc) if status < 500 else "see the daemon's log"
        # the shape of `mediator.admin.problems.Problem`, written here: the admin package
        # imports this module, so this one cannot import it back
        problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        answer = web.Response(
            body=msgspec.json.encode(problem),
            status=status,
            content_type="application/problem+json",
        )
        answer.force_close()  # the stream's framing cannot be trusted after a protocol error
        return answer


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """`web.AppRunner` whose protocol-level errors are answered as problem+json."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # the application's server, as aiohttp built it, with our handler factory: the class
        # adds only `__call__`, so the object's state is the same either way
        server.__class__ = _ProblemServer
        return server


def _reason(exc: BaseException | None) -> str:
    # our words, not the exception's: aiohttp's messages quote the request's bytes
    if isinstance(exc, LineTooLong):
        return "a line of the request (a header or the request line) is too long"
    if isinstance(exc, HttpProcessingError):
        return "the request is not valid HTTP/1.1"
    return "the request could not be read"

"""Reading a request's body on the daemon's listeners: the client's faults are 4xx, never 5xx.

Both listeners (the admin API and the webhooks) read through `read_body`: a `Content-Length`
past the limit is a 413 before anything is read, a body that does not arrive in time is a
408, a `Content-Encoding` aiohttp cannot decode is a 400 (the webhooks take no encoding at
all: a signature covers the bytes as sent, so they answer 415), and a client that goes away
mid-body is logged on one line as what it is (and its problem closes the connection, see
`problems.problem_response`).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from mediator.admin.problems import ProblemError

__all__ = ["read_body"]

_log = logging.getLogger("mediator.admin")
_IDENTITY = ("", "identity")


async def read_body(
    request: web.Request, *, max_body: int, timeout: float, any_encoding: bool = True
) -> bytes:
    """The body of `request` (decoded from its `Content-Encoding` when `any_encoding`).

    Raises `ProblemError`: 413 past `max_body`, 408 after `timeout` seconds, 415 for an encoded
    body when not `any_encoding`, 400 for an encoding that does not decode or a client that
    went away before the body was whole.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if not any_encoding and encoding not in _IDENTITY:
        raise ProblemError(
            415, "Unsupported Media Type", "send the body as it was signed, with no encoding",
            field="header.Content-Encoding",
        )  # fmt: skip
    if request.content_length is not None and request.content_length > max_body:
        raise ProblemError(
            413, "Request Entity Too Large",
            f"the body is larger than the limit of {max_body} bytes",
        )  # fmt: skip
    try:
        async with asyncio.timeout(timeout):  # a trickling client holds no slot
            return await request.read()  # stops at client_max_size: a streamed 413
    except TimeoutError:
        raise ProblemError(
            408, "Request Timeout", f"the body took longer than {timeout:g} s to arrive"
        ) from None
    except (HttpProcessingError, RequestPayloadError) as exc:  # a body that does not decode
        reason = " ".join(str(exc).split())  # "400, message: Can not decode content-encoding…"
        raise ProblemError(
            400, "Bad Request", f"the body cannot be read: {reason}", field="body"
        ) from None
    except ConnectionError:
        _log.info("%s %s: the client went away before its body arrived", request.method,
                  request.path)  # fmt: skip
        raise ProblemError(400, "Bad Request", "the body ended early", field="body") from None

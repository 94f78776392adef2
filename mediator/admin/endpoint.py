"""An admin endpoint as data: method, path, role, query, body and response types, handler.

Declaring endpoints this way lets one table drive both the server (decoding, auth, encoding)
and the OpenAPI document (openapi.py). A query string is converted to the endpoint's query
Struct and a body decoded to its body Struct by msgspec; a value that does not fit is a 400
naming the field (``query.limit``, ``body.reason``), and a body that is not JSON, or is JSON
the type cannot hold (whatever its depth), is a 400 too: msgspec checks types as it parses,
so a deep body fails at the first value of the wrong type, never by recursion.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import msgspec
from aiohttp import web

from mediator.admin.auth import Principal, Role
from mediator.admin.bodies import read_body
from mediator.admin.problems import ProblemError
from mediator.admin.snapshots import Snapshots

if TYPE_CHECKING:
    from mediator.runtime import Mediator

__all__ = ["MISSING_FIELD", "Call", "Endpoint", "convert_fields", "decode_body", "decode_query"]

T = TypeVar("T")
_AT = re.compile(r" - at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
#: msgspec's words for a required field left out: the field is its group
MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Call:
    """One request to an endpoint: the mediator, the caller, and the decoded inputs."""

    request: web.Request
    mediator: Mediator
    #: what status endpoints share between requests (statistics, windows)
    snapshots: Snapshots
    principal: Principal | None
    query: object
    body: object
    #: the path parameters (the route's match info; the dashboard passes its own)
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def path(self, name: str) -> str:
        """A path parameter's value."""
        return self.params[name]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One operation of the admin API; `role` None means no token is needed."""

    method: str
    path: str
    summary: str
    role: Role | None
    response: type[msgspec.Struct]
    #: answers a Struct (200), or a status and a Struct (a 503 of `/readyz`)
    handler: Callable[[Call], Awaitable[msgspec.Struct | tuple[int, msgspec.Struct]]]
    query: type[msgspec.Struct] | None = None
    body: type[msgspec.Struct] | None = None
    #: path parameters and the JSON Schema of each
    path_params: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)
    #: statuses other than 200 a success may answer with (503 of /readyz)
    other_statuses: dict[int, str] = dataclasses.field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        """A unique name: the method and the path's words."""
        words = re.findall(r"[A-Za-z0-9]+", self.path)
        return self.method.lower() + "".join(w.capitalize() for w in words)


def _field(where: str, exc: msgspec.MsgspecError) -> str:
    text = str(exc)
    for pattern in (_UNKNOWN, MISSING_FIELD):
        found = pattern.search(text)
        if found:
            return f"{where}.{found.group(1)}"
    at = _AT.search(text)
    return f"{where}{at.group(1)}" if at and at.group(1) else where


def decode_query(request: web.Request, kind: type[T]) -> T:
    """The query string as a `kind`; 400 naming the parameter that does not fit."""
    values: dict[str, str] = {}
    for name in request.query:
        given = request.query.getall(name)
        if len(given) > 1:
            raise ProblemError(400, "Bad Request", "given more than once", field=f"query.{name}")
        values[name] = given[0]
    return convert_fields(values, kind, where="query")


def convert_fields(values: Mapping[str, object], kind: type[T], *, where: str) -> T:
    """`values` (strings as a query or a form gives them) as a `kind`; 400 naming the field
    (``<where>.<name>``) that does not fit."""
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ProblemError(400, "Bad Request", str(exc), field=_field(where, exc)) from None


async def decode_body(request: web.Request, kind: type[T], *, max_body: int, timeout: float) -> T:
    """The JSON body as a `kind` (an empty body is ``{}``); 400 naming what is wrong, 413
    past `max_body`, 408 when it does not arrive within `timeout` seconds (`read_body`)."""
    raw = await read_body(request, max_body=max_body, timeout=timeout)
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise ProblemError(400, "Bad Request", str(exc), field=_field("body", exc)) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ProblemError(
            400, "Bad Request", f"the body is not valid JSON: {exc}", field="body"
        ) from None

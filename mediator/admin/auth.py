"""Bearer tokens of the admin API: who is calling, and whether their role may do it.

Tokens come from `[[admin.tokens]]` (name, role, a secret reference resolved at start). A
presented token's SHA-256 is compared with every configured token's in constant time
(`hmac.compare_digest` on equal-length digests, every one, no early exit), so the answer's
timing says nothing about how close a guess was, nor how long the tokens are.
Two roles: ``viewer`` reads, ``operator`` reads and acts. No token or a wrong one is 401 with
``WWW-Authenticate: Bearer``; a viewer asking for an action is 403. Token values are never
logged nor answered: a caller is known by the token's `name`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import msgspec
from aiohttp import web

from mediator.admin.problems import ProblemError
from mediator.config import LoadedConfig, resolve_secrets
from mediator.tomlfile import failing

__all__ = ["Principal", "TokenTable", "allows"]

Role = Literal["viewer", "operator"]
_RANK = {"viewer": 0, "operator": 1}


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The caller a token names: its `name` (what the audit log records) and `role`."""

    name: str
    role: Role


class TokenTable:
    """The configured tokens, resolved once at start."""

    def __init__(self, tokens: list[tuple[bytes, Principal]]) -> None:
        self._tokens = tokens

    @classmethod
    def from_config(cls, loaded: LoadedConfig) -> TokenTable:
        """Resolve `[[admin.tokens]]`; raise `ConfigError` (file, key, line) for a bad one,
        and for two entries of one value (which name and role would it have?). Names are
        unique already (the configuration's own checks)."""
        secrets = resolve_secrets(loaded)
        fail = failing(loaded.text, file=loaded.file)
        table: list[tuple[bytes, Principal]] = []
        for i, t in enumerate(loaded.config.admin.tokens):
            digest = _digest(secrets[f"admin.tokens[{i}].token"].reveal().encode())
            for j, (known, _) in enumerate(table):
                if hmac.compare_digest(known, digest):
                    raise fail(f"admin.tokens[{i}].token", f"the token of admin.tokens[{j}] too")
            table.append((digest, Principal(name=t.name, role=t.role)))
        return cls(table)

    def identify(self, request: web.Request, *, needs: Role) -> Principal:
        """The caller of `request`, if its role is at least `needs`; raise a 401 or 403."""
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if not header:
            raise _unauthorized("no bearer token: send 'Authorization: Bearer <token>'", None)
        if scheme.lower() != "bearer" or not presented.strip():
            raise _unauthorized(
                "the Authorization header is not 'Bearer <token>'", "invalid_request"
            )
        found = self.principal_of(presented)
        if found is None:
            raise _unauthorized("the token is not valid", "invalid_token")
        if not allows(found.role, needs):
            raise ProblemError(
                403,
                "Forbidden",
                f"the token {found.name!r} has the {found.role} role; this needs {needs}",
            )
        return found

    def principal_of(self, presented: str) -> Principal | None:
        """Whom the token `presented` names (None: no configured token), found in constant
        time: every configured token is compared, whatever matched before."""
        given = _digest(presented.strip().encode("utf-8", "surrogateescape"))
        found: Principal | None = None
        for token, principal in self._tokens:  # every one, so that timing tells nothing
            if hmac.compare_digest(given, token) and found is None:
                found = principal
        return found


def allows(role: Role, needs: Role) -> bool:
    """Whether `role` may do what needs `needs` (an operator may do what a viewer may)."""
    return _RANK[role] >= _RANK[needs]


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def _unauthorized(detail: str, error: str | None) -> ProblemError:
    challenge = 'Bearer realm="mediator"' + (f', error="{error}"' if error else "")
    return ProblemError(
        401, "Unauthorized", detail, field="header.Authorization",
        headers={"WWW-Authenticate": challenge},
    )  # fmt: skip

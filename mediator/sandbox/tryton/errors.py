"""How the Tryton sandbox fails: a Tryton exception (a fault) or a plain HTTP refusal."""

from __future__ import annotations

from mediator.codecs.tryton import RpcValue, TrytonFault

__all__ = ["HttpRefusal", "RpcFault", "user_error"]


class RpcFault(Exception):
    """A Tryton exception: answered in the envelope, or as an HTTP status without one."""

    def __init__(self, fault: TrytonFault) -> None:
        super().__init__(fault.name, fault.message)
        self.fault = fault


class HttpRefusal(Exception):
    """A refusal trytond gives at the HTTP level whatever the envelope (401, 403, 422, 503)."""

    def __init__(
        self,
        status: int,
        text: str = "",
        headers: dict[str, str] | None = None,
        *,
        plain: bool = False,
    ) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text  # empty: werkzeug's default description for the status
        self.headers = headers or {}
        self.plain = plain  # an empty text/plain answer (the 401 challenge) instead of a page


def user_error(message: str, description: str = "", domain: RpcValue = None) -> RpcFault:
    """Return a `UserError` fault (validation or business rule).

    `domain` is its third argument: ``[domain, {field: definition}]`` when a value breaks a
    field's domain, else null.
    """
    return RpcFault(TrytonFault.user_error(message, description, domain))

"""Stripe's error objects: `{"error": {type, code, message, param, doc_url}}` with a status."""

from __future__ import annotations

__all__ = ["StripeError", "missing", "unknown_parameter"]


class StripeError(Exception):
    """A refused request as Stripe answers it: HTTP `status` and the `error` object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        store: bool = False,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        # Only errors raised once execution began are kept for idempotent replay; parameter
        # validation failures are not, so a corrected retry with the same key goes through.
        self.store = store

    def body(self) -> dict[str, object]:
        """Return the JSON body `{"error": {...}}`."""
        error: dict[str, object] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Return the 404 `resource_missing` error for an unknown object id."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unknown_parameter(name: str) -> StripeError:
    """Return the 400 error for a parameter the endpoint does not take."""
    return StripeError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )

"""Typed reading of Stripe's form parameters (the form itself carries only strings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiohttp import web

from mediator.codecs.stripe import FormNode
from mediator.sandbox.stripe.errors import StripeError, unknown_parameter

__all__ = ["PARAMS_KEY", "Params", "params_of"]


class Params:
    """Decoded form parameters of one request, read field by field with Stripe's errors."""

    def __init__(self, values: Mapping[str, FormNode]) -> None:
        self.values = dict(values)

    def only(self, allowed: Iterable[str]) -> Params:
        """Refuse any parameter not in `allowed` (plus `expand`) with `parameter_unknown`."""
        known = {*allowed, "expand"}
        for name in self.values:
            if name not in known:
                raise unknown_parameter(name)
        return self

    def has(self, name: str) -> bool:
        """Return whether `name` was sent."""
        return name in self.values

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        """Return a string parameter."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise StripeError(
                    400, f"Missing required param: {name}.", code="parameter_missing", param=name
                )
            return default
        if not isinstance(value, str):
            raise StripeError(400, f"Invalid string: {name}", param=name)
        return value

    def integer(
        self, name: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None:
        """Return an integer parameter (`parameter_invalid_integer` otherwise)."""
        text = self.text(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise StripeError(
                400, f"Invalid integer: {text}", code="parameter_invalid_integer", param=name
            ) from None
        if minimum is not None and value < minimum:
            raise StripeError(
                400, f"This value must be greater than or equal to {minimum}.", param=name
            )
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """Return a boolean parameter sent as `true`/`false`."""
        text = self.text(name)
        if text is None:
            return default
        if text not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {text}", param=name)
        return text == "true"

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str | None:
        """Return a string that must be one of `options`."""
        value = self.text(name, default)
        if value is not None and value not in options:
            raise StripeError(
                400, f"Invalid {name}: must be one of {', '.join(options)}", param=name
            )
        return value

    def mapping(self, name: str) -> dict[str, str] | None:
        """Return a map of strings (`metadata`, `address`); an empty string unsets it."""
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise StripeError(400, f"Invalid object: {name}", param=name)
        return {k: v for k, v in value.items() if isinstance(v, str)}


PARAMS_KEY: web.RequestKey[Params] = web.RequestKey("stripe.params", Params)


def params_of(request: web.Request) -> Params:
    """Return the decoded form (POST) or query (GET) parameters of a `/v1/` request."""
    return request[PARAMS_KEY]

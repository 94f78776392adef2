"""Typed reading of Stripe's form parameters (the form itself carries only strings).

Every reader refuses a value of the wrong type or out of bounds with Stripe's own 400
`invalid_request_error` naming the parameter as Stripe spells it (`period[start]`,
`metadata[k]`, `preferred_locales[0]`), so no value reaches the store unchecked. The limits
are Stripe's documented ones: metadata at most 50 keys, keys up to 40 characters (no square
brackets), values up to 500; amounts within 8 digits of the smallest currency unit; strings
within 5,000 characters unless a field says less; integers within int64.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from aiohttp import web

from mediator.codecs.canonical.currencies import EXPONENTS
from mediator.codecs.stripe import FormNode
from mediator.sandbox.stripe.errors import StripeError, unknown_parameter

__all__ = ["MAX_AMOUNT", "PARAMS_KEY", "Params", "invalid", "params_of", "parse_integer"]

MAX_AMOUNT = 99_999_999
"""The largest amount in the smallest currency unit (Stripe: eight digits)."""

_INT64 = 2**63
_MAX_STRING = 5_000
_METADATA_KEYS = 50
_METADATA_KEY_LENGTH = 40
_METADATA_VALUE_LENGTH = 500


def invalid(param: str, message: str, code: str | None = None) -> StripeError:
    """Return the 400 `invalid_request_error` for a bad value of `param`."""
    return StripeError(400, message, code=code, param=param)


def _show(value: FormNode) -> str:
    # Stripe echoes the value it refused; a hostile one is cut short.
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


class Params:
    """Decoded form parameters of one request, read field by field with Stripe's errors."""

    def __init__(self, values: Mapping[str, FormNode], *, prefix: str = "") -> None:
        self.values = dict(values)
        self.prefix = prefix  # `shipping[address]`: how errors name this hash's parameters

    def _p(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name

    def nested(self, name: str) -> Params | None:
        """Return the hash `name` as parameters of its own (errors name `name[key]`).

        None if not sent; "" (unset) gives an empty one.
        """
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return Params({}, prefix=self._p(name))
        if not isinstance(value, dict):
            raise invalid(self._p(name), f"Invalid object: {self._p(name)}")
        return Params(value, prefix=self._p(name))

    def hashes(self, name: str, *, max_items: int) -> list[Params] | None:
        """Return an array of hashes (`custom_fields[0][name]=…`), each as its own `Params`."""
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return []
        if isinstance(value, dict) and all(k.isascii() and k.isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]  # sparse indexes
        if not isinstance(value, list):
            raise invalid(self._p(name), "Invalid array")
        if len(value) > max_items:
            raise invalid(self._p(name), f"Invalid array: must have at most {max_items} items")
        out: list[Params] = []
        for index, item in enumerate(value):
            param = f"{self._p(name)}[{index}]"
            if not isinstance(item, dict):
                raise invalid(param, f"Invalid object: {param}")
            out.append(Params(item, prefix=param))
        return out

    def references(
        self, name: str, kind: str, *, max_items: int = 100, known: Collection[str] = ()
    ) -> list[str] | None:
        """Return an array of ids of `kind` objects; an id not in `known` (the sandbox holds
        none of most kinds) is a 400 `resource_missing` naming its index (an empty array is
        fine)."""
        ids = self.strings(name, max_items=max_items, max_length=255)
        for index, object_id in enumerate(ids or []):
            if object_id in known:
                continue
            raise StripeError(
                400,
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
                param=f"{self._p(name)}[{index}]",
            )
        return ids

    def reference(self, name: str, kind: str) -> None:
        """Refuse an id of a `kind` the sandbox holds none of (400 `resource_missing`)."""
        object_id = self.text(name, max_length=255)
        if object_id:
            raise StripeError(
                400,
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
                param=self._p(name),
            )

    def required(self, *names: str) -> None:
        """Refuse a hash that lacks one of `names` (`parameter_missing`)."""
        for name in names:
            if name not in self.values:
                raise StripeError(
                    400,
                    f"Missing required param: {self._p(name)}.",
                    code="parameter_missing",
                    param=self._p(name),
                )

    def only(self, allowed: Iterable[str]) -> Params:
        """Refuse any parameter not in `allowed` (plus `expand`) with `parameter_unknown`."""
        known = {*allowed, "expand"}
        for name in self.values:
            if name not in known:
                raise unknown_parameter(self._p(name))
        return self

    def has(self, name: str) -> bool:
        """Return whether `name` was sent."""
        return name in self.values

    def text(
        self,
        name: str,
        default: str | None = None,
        *,
        required: bool = False,
        max_length: int = _MAX_STRING,
    ) -> str | None:
        """Return a string parameter of at most `max_length` characters."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise StripeError(
                    400,
                    f"Missing required param: {self._p(name)}.",
                    code="parameter_missing",
                    param=self._p(name),
                )
            return default
        return _string(self._p(name), value, max_length)

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """Return an integer parameter (`parameter_invalid_integer` otherwise)."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        return parse_integer(self._p(name), value, minimum, maximum)

    def amount(self, name: str) -> int | None:
        """Return an amount in the smallest currency unit, within ±`MAX_AMOUNT`."""
        value = self.integer(name)
        if value is not None and abs(value) > MAX_AMOUNT:
            raise invalid(
                self._p(name),
                f"This value must be less than or equal to {MAX_AMOUNT} "
                f"(and greater than or equal to -{MAX_AMOUNT}).",
                "amount_too_large",
            )
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """Return a boolean parameter sent as `true`/`false`."""
        value = self.values.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise invalid(self._p(name), f"Invalid boolean: {_show(value)}")
        return value == "true"

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str | None:
        """Return a string that must be one of `options`."""
        value = self.text(name, default)
        if value is not None and value not in options:
            raise invalid(self._p(name), f"Invalid {name}: must be one of {', '.join(options)}")
        return value

    def currency(self, name: str = "currency") -> str | None:
        """Return a three-letter ISO currency code Stripe supports, lower-cased."""
        value = self.text(name)
        if value is None:
            return None
        if value.upper() not in EXPONENTS:
            raise invalid(
                self._p(name),
                f"Invalid currency: {_show(value.lower())}. Stripe currently supports these "
                "currencies: " + ", ".join(sorted(c.lower() for c in EXPONENTS)),
            )
        return value.lower()

    def strings(
        self, name: str, *, max_items: int = 100, max_length: int = 100
    ) -> list[str] | None:
        """Return an array of strings (`name[]=a`, `name[0]=a`); an empty string clears it."""
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return []
        if not isinstance(value, list):
            raise invalid(self._p(name), "Invalid array")
        if len(value) > max_items:
            raise invalid(self._p(name), f"Invalid array: must have at most {max_items} items")
        return [_string(f"{self._p(name)}[{i}]", item, max_length) for i, item in enumerate(value)]

    def metadata(self, name: str = "metadata") -> dict[str, str] | None:
        """Return a metadata map within Stripe's limits; "" unsets it, a "" value unsets a key."""
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        if isinstance(value, list):  # `metadata[0]=a&metadata[1]=b`: keys that look like indexes
            value = {str(i): item for i, item in enumerate(value)}
        if not isinstance(value, dict):
            raise invalid(self._p(name), f"Invalid object: {name}")
        if len(value) > _METADATA_KEYS:
            raise invalid(
                self._p(name),
                f"Invalid {name}: {name} can have at most {_METADATA_KEYS} keys, got {len(value)}.",
            )
        clean: dict[str, str] = {}
        for key, item in value.items():
            param = f"{self._p(name)}[{key[: _METADATA_KEY_LENGTH + 10]}]"
            if not key.strip():
                raise invalid(param, f"Invalid {name}: keys cannot be empty.")
            if len(key) > _METADATA_KEY_LENGTH:
                raise invalid(
                    param,
                    f"Invalid {name}: keys can be at most {_METADATA_KEY_LENGTH} characters "
                    f"long, got {len(key)}.",
                )
            if not isinstance(item, str):
                raise invalid(param, f"Invalid {name}: values must be strings.")
            if len(item) > _METADATA_VALUE_LENGTH:
                raise invalid(
                    param,
                    f"Invalid {name}: values can be at most {_METADATA_VALUE_LENGTH} "
                    f"characters long, got {len(item)}.",
                )
            clean[key] = item
        return clean

    def record(
        self, name: str, fields: Mapping[str, int], *, required: tuple[str, ...] = ()
    ) -> dict[str, str] | None:
        """Return a hash of known string fields (`address`), each within its length.

        `fields` maps each sub-parameter to its maximum length; any other is unknown.
        An empty string unsets the whole hash (returned as `{}`).
        """
        value = self.values.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid(self._p(name), f"Invalid object: {name}")
        for key in value:
            if key not in fields:
                raise unknown_parameter(f"{self._p(name)}[{key[:80]}]")
        for key in required:
            if key not in value:
                raise StripeError(
                    400,
                    f"Missing required param: {self._p(name)}[{key}].",
                    code="parameter_missing",
                    param=f"{self._p(name)}[{key}]",
                )
        return {k: _string(f"{self._p(name)}[{k}]", v, fields[k]) for k, v in value.items()}

    def timestamps(self, name: str, parts: tuple[str, ...]) -> dict[str, int] | None:
        """Return a hash of Unix timestamps (`period[start]`, `period[end]`), all required."""
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid(self._p(name), f"Invalid object: {name}")
        for key in value:
            if key not in parts:
                raise unknown_parameter(f"{self._p(name)}[{key[:80]}]")
        out: dict[str, int] = {}
        for key in parts:
            if key not in value:
                raise StripeError(
                    400,
                    f"Missing required param: {self._p(name)}[{key}].",
                    code="parameter_missing",
                    param=f"{self._p(name)}[{key}]",
                )
            out[key] = parse_integer(f"{self._p(name)}[{key}]", value[key], 0, 2**37)
        return out


def _string(name: str, value: FormNode, max_length: int) -> str:
    if not isinstance(value, str):
        raise invalid(name, f"Invalid string: {_show(value)}")
    if len(value) > max_length:
        raise invalid(
            name,
            f"Invalid string: {_show(value)}; must be at most {max_length} characters",
        )
    return value


def parse_integer(
    name: str, value: FormNode, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return `value` as an integer within int64 (and the bounds), or raise Stripe's 400."""
    text = value if isinstance(value, str) else None
    number: int | None = None
    # Digits only: Python's int() would also take "1_000", " 7" and "٣", which Stripe refuses.
    if text is not None and 0 < len(text) <= 20 and text.lstrip("-").isascii():
        digits = text[1:] if text.startswith("-") else text
        if digits.isdigit():
            number = int(text)
    if number is None or not -_INT64 <= number < _INT64:
        raise invalid(name, f"Invalid integer: {_show(value)}", "parameter_invalid_integer")
    if minimum is not None and number < minimum:
        raise invalid(name, f"This value must be greater than or equal to {minimum}.")
    if maximum is not None and number > maximum:
        raise invalid(name, f"This value must be less than or equal to {maximum}.")
    return number


PARAMS_KEY: web.RequestKey[Params] = web.RequestKey("stripe.params", Params)


def params_of(request: web.Request) -> Params:
    """Return the decoded form (POST) or query (GET) parameters of a `/v1/` request."""
    return request[PARAMS_KEY]

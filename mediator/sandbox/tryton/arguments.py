"""The positional arguments of trytond's RPC methods, and the errors wrong ones raise there.

trytond calls the Python method with the client's positional arguments as they are, so a
wrong count escapes as Python's own `TypeError` text (``ModelSQL.search() missing 1 required
positional argument: 'domain'``) and a value of the wrong type as the error the first use of
it raises (``'int' object is not iterable``); both reach the client as an unnamed exception,
`["<text>", ""]`. The sandbox checks the same things up front and words them the same way,
so a hostile call gets the answer the real server gives instead of a sandbox traceback.
Signatures and wording were checked against trytond 8.2 (tests/tryton_real).
"""

from __future__ import annotations

from dataclasses import dataclass

from mediator.codecs.tryton import RpcValue, TrytonFault
from mediator.sandbox.tryton.errors import RpcFault

__all__ = [
    "REPORT_EXECUTE",
    "SIGNATURES",
    "Signature",
    "check_arity",
    "server_error",
    "sql_integer",
    "want_list",
]

_SQLITE_MAX = 2**63 - 1  # SQLite INTEGER is 64-bit signed; a larger id fails in the driver


@dataclass(frozen=True)
class Signature:
    """One method as trytond defines it: the class named in errors, and its parameters."""

    owner: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    varargs: bool = False


SIGNATURES: dict[str, Signature] = {
    "create": Signature("ModelSQL", ("vlist",)),
    "read": Signature("ModelSQL", ("ids", "fields_names")),
    "write": Signature("ModelSQL", ("records", "values"), varargs=True),
    "delete": Signature("ModelSQL", ("records",)),
    "search": Signature("ModelSQL", ("domain",), ("offset", "limit", "order", "count", "query")),
    "search_count": Signature("ModelStorage", ("domain",), ("offset", "limit")),
    "search_read": Signature(
        "ModelStorage", ("domain",), ("offset", "limit", "order", "fields_names")
    ),
}


def server_error(text: str) -> RpcFault:
    """Return the fault of an exception trytond does not name: `["<text>", ""]`."""
    return RpcFault(TrytonFault.server_error(text))


REPORT_EXECUTE = Signature("Report", ("ids", "data"))


def check_arity(method: str, args: list[RpcValue], *, signature: Signature | None = None) -> None:
    """Refuse a call whose argument count the Python method would refuse, in its words."""
    signature = signature or SIGNATURES.get(method)
    if signature is None:
        return
    name = f"{signature.owner}.{method}()"
    required, optional = len(signature.required), len(signature.optional)
    if len(args) < required:
        missing = signature.required[len(args) :]
        plural = "s" if len(missing) > 1 else ""
        raise server_error(
            f"{name} missing {len(missing)} required positional argument{plural}: {_names(missing)}"
        )
    if not signature.varargs and len(args) > required + optional:
        # Python counts `cls` among the positional arguments
        most, given = required + optional + 1, len(args) + 1
        takes = f"from {required + 1} to {most}" if optional else str(most)
        raise server_error(f"{name} takes {takes} positional arguments but {given} were given")


def want_list(value: RpcValue) -> list[RpcValue]:
    """Return `value` if it is a list; else the error iterating over it raises in Python."""
    if isinstance(value, list):
        return value
    if isinstance(value, str | dict):
        return list(value)  # trytond iterates strings and maps too, then fails further on
    raise server_error(f"'{_type_name(value)}' object is not iterable")


def sql_integer(value: object) -> None:
    """Refuse an id SQLite cannot hold, as its driver does."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SQLITE_MAX:
        raise server_error("Python int too large to convert to SQLite INTEGER")


def _names(names: tuple[str, ...]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _type_name(value: object) -> str:
    if value is None:
        return "NoneType"
    return type(value).__name__

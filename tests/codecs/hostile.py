"""Hostile JSON for the decoder fuzz tests: valid vendor documents with a few values made bad.

A random document fails at its first byte and tests nothing past the parser, so each example
is a realistic template with one to three mutations at random places: a value replaced by a
hostile one (the strings of issue #13, huge and non-finite numbers, deep nesting, invalid
UTF-8, wrong types), a key removed or added, or the bytes cut or corrupted.

Runs are reproducible (``derandomize=True``: the seed is derived from the test's name) and
bounded: `FUZZ_EXAMPLES` examples per test and document kind, 60 by default (seconds in CI).
Before a release run longer: ``MEDIATOR_FUZZ_EXAMPLES=20000 pytest tests/codecs/test_fuzz.py``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mediator.errors import DecodeError

FUZZ_EXAMPLES = int(os.environ.get("MEDIATOR_FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,  # a fixed seed: the same examples on every run and every machine
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T = TypeVar("T")

_STRINGS = [
    "NaN", "nan", "sNaN", "-sNaN", "Infinity", "-Infinity", "1e400", "-1e400", "", " ", "abc",
    "1_000", "١٢", "0x1F", "1e", "2026-13-45", "2026-02-30", "0000-01-01", "10000-01-01",
    "2026-11-26T10:00:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00",
    "2026-11-26T25:00:00Z", "\x00", "\ud7ff\ue000", "EUR", "xyz", "usd", "Fixed Fee", "approved",
    "draft", "paid", "invoice.paid", "customer.updated", "charge.failed", "exempt",
    "x" * 300, "x" * 200_000,
]  # fmt: skip
_RAW = [
    b"1e400", b"-1e400", b"1e-400", b"1" * 5000, b"-" + b"9" * 40, b"18446744073709551616",
    b"9223372036854775808", b"-9223372036854775809", b"0.1234567890123456789012345678901",
    b"[" * 3000 + b"]" * 3000, b'{"a":' * 1500 + b"1" + b"}" * 1500, b'"\xff\xfe"',
    b'"\\ud800"', b'"\xed\xa0\x80"', b"[[[]]]", b"{}", b"[]",
]  # fmt: skip


_NUMBERS: list[object] = [msgspec.Raw(raw) for raw in _RAW[:9]]
_NUMBERS += ["NaN", "sNaN", "Infinity", "-Infinity", "1e400", "", "abc", "12.5", "1_000"]
_NUMBERS += [0, -1, 2**63 - 1, 2**64 - 1, -(2**63), 1e308, -1e-308]


def _int(value: int) -> object:
    return value if -(2**63) <= value < 2**64 else msgspec.Raw(str(value).encode())


_scalars = st.one_of(
    st.sampled_from(_STRINGS),
    st.sampled_from([msgspec.Raw(raw) for raw in _RAW]),
    st.integers().map(_int),
    st.integers(min_value=2**62, max_value=2**70).map(_int),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
hostile_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn, template: object) -> bytes:
    """Return `template` as JSON with one to three hostile mutations."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        doc = _mutate_once(draw, doc)
    body = msgspec.json.encode(doc)
    cut = draw(st.sampled_from(["keep"] * 8 + ["truncate", "corrupt"]))
    if cut == "truncate":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif cut == "corrupt":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body = (
            body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b'"', b"}"])) + body[at:]
        )
    return body


def _mutate_once(draw: st.DrawFn, doc: object) -> object:
    if not isinstance(doc, dict | list) or not doc or draw(st.integers(0, 30)) == 0:
        return draw(hostile_values)  # now and then the whole document
    # Every place is as likely as any other, however deep (a line's metadata.quantity too).
    places = list(_places(doc))
    parent, key = draw(st.sampled_from(places))
    action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[key] = draw(_instead_of(parent[key]))
    elif action == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(hostile_values)
    else:
        parent.append(draw(hostile_values))
    return doc


def _places(node: object) -> Iterator[tuple[Any, object]]:
    items = node.items() if isinstance(node, dict) else enumerate(node)  # type: ignore[arg-type]  # else a list
    for key, child in list(items):
        yield node, key
        if isinstance(child, dict | list) and child:
            yield from _places(child)


def _instead_of(old: object) -> st.SearchStrategy[object]:
    # Mostly a value of the same kind gone bad (a number that is not one), so that each
    # example gets past the type check to the code that reads the value.
    if isinstance(old, str):
        return st.one_of(st.sampled_from(_STRINGS), hostile_values)
    if isinstance(old, int | float) and not isinstance(old, bool):
        return st.one_of(st.sampled_from(_NUMBERS), hostile_values)
    return hostile_values


SWEEP: list[object] = [
    "NaN", "sNaN", "-Infinity", "", "abc", "2026-13-45", "2026-11-26T10:00:00", "x" * 100_001,
    msgspec.Raw(b"1e400"), msgspec.Raw(b"1" * 5000), msgspec.Raw(b"18446744073709551616"),
    msgspec.Raw(b"-9223372036854775809"), msgspec.Raw(b'"\xff"'),
    msgspec.Raw(b"[" * 3000 + b"]" * 3000),
    2**63 - 1, -(2**63), 0, -1, 1e308, True, None, [], {}, [1], {"id": 1},
]  # fmt: skip
"""The values the sweep puts in every place of a document, one place at a time."""


def swept(template: object) -> Iterator[tuple[str, object, bytes]]:
    """Yield (place, value, JSON) for each place of `template` and each `SWEEP` value there,
    and for each place removed: every single mutation, deterministic and cheap (~25 µs each)."""
    for path in _paths(template):
        for value in [*SWEEP, _REMOVED]:
            doc = copy.deepcopy(template)
            parent: Any = doc
            for key in path[:-1]:
                parent = parent[key]
            if value is _REMOVED:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield (
                "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path),
                value,
                msgspec.json.encode(doc),
            )


_REMOVED = object()


def _paths(node: object, prefix: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node)  # type: ignore[arg-type]  # else a list
    for key, child in list(items):
        yield (*prefix, key)
        if isinstance(child, dict | list) and child:
            yield from _paths(child, (*prefix, key))


def sweep(template: object, check: Callable[[bytes], object]) -> None:
    """Run `check` on every single mutation of `template` (`swept`); fail listing those that
    raised anything but `DecodeError` (`check` runs the decoders with
    `returns_or_decode_error`)."""
    failures = []
    for place, value, body in swept(template):
        try:
            check(body)
        except Exception as exc:  # noqa: BLE001 - collected, then reported all together
            failures.append(f"{place} = {value!r:.40}: {type(exc).__name__}: {exc!s:.200}")
    assert not failures, f"{len(failures)} escaped:\n" + "\n".join(failures[:30])


def returns_or_decode_error(decode: Callable[[], T]) -> T | None:
    """Run `decode`: it may return or raise `DecodeError`; anything else fails the test."""
    try:
        return decode()
    except DecodeError as exc:
        error = exc
    assert error.path.startswith("$"), error.path  # a path, and a reason to go with it
    assert error.reason, error
    return None

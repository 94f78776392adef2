"""Tryton JSON-RPC: tagged values and the envelope, as a real trytond 8.2 speaks them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs.tryton import TrytonFault, TrytonRequest, TrytonResponse
from mediator.codecs.tryton.rpc import RpcValue
from mediator.codecs.tryton.rpc import decode_request as decode_tryton_request
from mediator.codecs.tryton.rpc import decode_response as decode_tryton_response
from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.codecs.tryton.rpc import encode_request as encode_tryton_request
from mediator.codecs.tryton.rpc import encode_response as encode_tryton_response
from mediator.codecs.tryton.rpc import loads as tryton_loads
from mediator.errors import DecodeError


# The stdlib client of shared/reference/tryton/jsonrpc_demo.py, which ran against a real
# trytond: our codec must read what it writes and write what it reads.
def _reference_encode(o: object) -> object:
    if isinstance(o, Decimal):
        return {"__class__": "Decimal", "decimal": str(o)}
    if isinstance(o, dt.datetime):
        fields = ("year", "month", "day", "hour", "minute", "second", "microsecond")
        return {"__class__": "datetime", **{f: getattr(o, f) for f in fields}}
    if isinstance(o, dt.date):
        return {"__class__": "date", "year": o.year, "month": o.month, "day": o.day}
    if isinstance(o, dt.time):
        time_fields = ("hour", "minute", "second", "microsecond")
        return {"__class__": "time", **{f: getattr(o, f) for f in time_fields}}
    if isinstance(o, dt.timedelta):
        return {"__class__": "timedelta", "seconds": o.total_seconds()}
    if isinstance(o, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(o).decode()}
    raise TypeError(repr(o))


def _reference_decode(d: dict[str, Any]) -> object:
    """`json.loads`' object hook: `d` is one JSON object, whatever the test sent."""
    decoders: dict[str, Callable[[], object]] = {
        "Decimal": lambda: Decimal(d["decimal"]),
        "date": lambda: dt.date(d["year"], d["month"], d["day"]),
        "timedelta": lambda: dt.timedelta(seconds=d["seconds"]),
        "bytes": lambda: base64.b64decode(d["base64"]),
    }
    kind = d.get("__class__")
    if kind == "datetime":
        return dt.datetime(*(d[f] for f in ("year", "month", "day", "hour", "minute", "second")))
    return decoders[kind]() if kind in decoders else d


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    # what Tryton JSON carries: finite, below 10**19 (larger ones are refused, tested below)
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**15), max_value=10**15
    ),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(days=-10_000), max_value=dt.timedelta(days=10_000)),
    st.binary(max_size=200),
)
_amounts = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**16), max_value=10**16
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text().filter(lambda k: k != "__class__"), inner, max_size=4),
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_every_value_survives_a_round_trip(value: object) -> None:
    back = tryton_loads(tryton_dumps(value))
    if isinstance(value, dt.timedelta):
        # Tryton sends total_seconds() as a float: exact to the microsecond within ±10,000 days
        assert back == value
    else:
        assert back == value


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(_amounts, st.dates(), st.binary())))
def test_we_read_what_the_reference_client_writes(values: list[object]) -> None:
    assert tryton_loads(json.dumps(values, default=_reference_encode)) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(_amounts, st.dates(), st.binary())))
def test_the_reference_client_reads_what_we_write(values: list[object]) -> None:
    assert json.loads(tryton_dumps(values), object_hook=_reference_decode) == values


def test_login_request_is_exactly_the_three_keys() -> None:
    body = encode_tryton_request(
        TrytonRequest(id=1, method="common.db.login", params=["admin", {"password": "p"}, "en"])
    )
    assert json.loads(body) == {
        "id": 1,
        "method": "common.db.login",
        "params": ["admin", {"password": "p"}, "en"],
    }


def test_timesheet_create_is_tagged_like_the_transcript() -> None:
    params: list[RpcValue] = [
        [{"duration": dt.timedelta(hours=2, minutes=30), "date": dt.date(2026, 11, 26)}],
        {},
    ]
    body = json.loads(encode_tryton_request(TrytonRequest(id=7, method="m", params=params)))
    assert body["params"][0][0] == {
        "duration": {"__class__": "timedelta", "seconds": 9000.0},
        "date": {"__class__": "date", "year": 2026, "month": 11, "day": 26},
    }


def test_aware_datetimes_go_out_as_naive_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    sent = tryton_loads(tryton_dumps(dt.datetime(2026, 1, 1, 12, tzinfo=paris)))
    assert sent == dt.datetime(2026, 1, 1, 11)


def test_a_request_with_extra_keys_is_not_an_envelope() -> None:
    request = decode_tryton_request(b'{"jsonrpc":"2.0","id":1,"method":"x","params":[]}')
    assert request.envelope is False
    assert decode_tryton_request(b'{"id":1,"method":"x","params":[]}').envelope is True


@pytest.mark.parametrize(
    ("wire", "fault"),
    [
        (
            '["UserError",["A value is required for field \\"Duration\\".","",null]]',
            TrytonFault.user_error('A value is required for field "Duration".'),
        ),
        (
            '["UserWarning",["w1","Sure?","really"]]',
            TrytonFault.user_warning("w1", "Sure?", "really"),
        ),
        (
            '["LoginException",["password","Password","password"]]',
            TrytonFault.login_exception("password", "Password"),
        ),
        (
            '["ConcurrencyException","Records were modified"]',
            TrytonFault.concurrency("Records were modified"),
        ),
        ('["\'no.such.model\'",""]', TrytonFault.server_error("'no.such.model'")),
    ],
)
def test_error_envelopes_decode_and_re_encode_exactly(wire: str, fault: TrytonFault) -> None:
    body = f'{{"id":29,"error":{wire}}}'
    response = decode_tryton_response(body)
    assert response == TrytonResponse(id=29, error=fault)
    assert json.loads(encode_tryton_response(response)) == json.loads(body)


def test_a_result_envelope_carries_tagged_values_back() -> None:
    response = TrytonResponse(id=3, result=[{"id": 1, "total_amount": Decimal("1000.00")}])
    assert decode_tryton_response(encode_tryton_response(response)) == response


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"\xff\xfe", "$"),
        (b"[1,2", "$"),
        (b"NaN", "$"),
        (b"[" * 100_000 + b"]" * 100_000, "$"),
        (b'{"id":1,"result":' + b"[" * 70 + b"1" + b"]" * 70 + b"}", "$.result" + "[0]" * 65),
        (
            b'{"id":1,"result":{"__class__":"date","year":"2026","month":1,"day":1}}',
            "$.result.year",
        ),
        (b'{"id":1,"result":{"__class__":"date","year":2026,"month":13,"day":1}}', "$.result"),
        (b'{"id":1,"result":[{"__class__":"timedelta","seconds":1e300}]}', "$.result[0].seconds"),
        (b'{"id":1,"result":{"__class__":"Decimal","decimal":"abc"}}', "$.result.decimal"),
        (
            b'{"id":1,"result":{"__class__":"Decimal","decimal":"' + b"9" * 10_000 + b'"}}',
            "$.result.decimal",
        ),
        (b'{"id":1,"result":{"__class__":"bytes","base64":"%%%"}}', "$.result.base64"),
        (b'{"id":1,"error":"boom"}', "$.error"),
        (b'{"id":true,"result":1}', "$.id"),
        (b'{"id":1}', "$"),
    ],
)
def test_hostile_answers_are_decode_errors_with_a_path(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_tryton_response(body)
    assert (info.value.system, info.value.path) == ("tryton", path)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"id":1,"method":5,"params":[]}', "$.method"),
        (b'{"id":1,"method":"m","params":{}}', "$.params"),
    ],
)
def test_malformed_requests_are_decode_errors(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_tryton_request(body)
    assert info.value.path == path


def test_a_ten_megabyte_string_decodes() -> None:
    text = "x" * 10_000_000
    assert tryton_loads(tryton_dumps({"note": text})) == {"note": text}


@pytest.mark.parametrize("bad", [float("nan"), object(), {1: "x"}])
def test_values_tryton_cannot_carry_are_refused_on_the_way_out(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        tryton_dumps(bad)

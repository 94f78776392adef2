"""Fuzz the Tryton sandbox's JSON-RPC with hostile calls: trytond's answers, never a crash.

Each example is one POST over real HTTP: a route (the database's ``/rpc/``, the server's, the
legacy root, unknown ones), a method (every callable one, near-misses and junk), params of any
JSON shape with tagged values and field names of the schema, enveloped or bare, with a session,
without one or with a forged one, or a body of garbage or deep nesting. The sandbox must answer
as trytond does: an enveloped call gets 200 with ``{id, result}`` or ``{id, error}`` unless an
HTTP refusal applies (400, 401, 403, 404, 405, 422, 429, werkzeug's HTML page); only a bare
call may get trytond's 500 page for an unnamed exception. aiohttp's own 500 (a sandbox
traceback) is never an answer. Bounded for CI (`fuzzing.EXAMPLES`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediator.sandbox.tryton import TrytonSandbox, session_header
from mediator.sandbox.tryton.rpc import known_methods
from mediator.sandbox.tryton.schema import MODELS

from .fuzzing import FUZZ, Answer, deep_json, json_values, odd_text, seeded, send, serve_in_thread

ENVELOPE = {"id", "method", "params"}
REFUSALS = {400, 401, 403, 404, 405, 422, 429}


@pytest.fixture(scope="module")
def tryton() -> Iterator[tuple[str, str]]:
    """The sandbox's URL and a session header of its administrator."""
    with serve_in_thread(TrytonSandbox()) as url:
        login = {"id": 1, "method": "common.db.login", "params": ["admin", {"password": "admin"}]}
        answer = send(url, "POST", "/tryton/rpc/", json.dumps(login).encode(), JSON)
        user, key, _ = json.loads(answer.body)["result"]
        yield url, session_header("admin", user, key)


JSON = {"Content-Type": "application/json"}
FIELD_NAMES = sorted({name for model in MODELS.values() for name in model.fields})
tagged = st.fixed_dictionaries(
    {"__class__": st.sampled_from(["datetime", "date", "time", "timedelta", "Decimal", "bytes"])},
    optional={
        "year": odd_text | st.integers(),
        "month": st.integers(),
        "day": st.integers(),
        "decimal": odd_text,
        "seconds": odd_text | st.floats(),
        "base64": odd_text,
    },
)
values = st.recursive(
    json_values | tagged,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=4),
        # domain-like clauses: a field, an operator, a value
        st.tuples(
            st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
            st.sampled_from(["=", "!=", "in", "not in", "ilike", "<", ">=", "child_of", "?"]),
            inner,
        ).map(list),
    ),
    max_leaves=12,
)
methods = st.one_of(
    st.sampled_from([m for m in known_methods() if not m.endswith(".delete")]),
    st.sampled_from(
        [
            "foo.bar.baz",
            "foo",
            "",
            "model.",
            "model.party.party",
            "wizard.x.create",
            "report.x.execute",
            "common.db.foo",
            "system.listMethods",
            "common.server.version",
        ]
    ),
    st.text(alphabet="abcmodel.pary_", max_size=30),
)
contexts = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {}, optional={"active_test": json_values, "_timestamp": values, "company": values}
    ),
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], bool]:
    """One hostile call: path, body, headers, and whether it is enveloped."""
    path = draw(
        st.sampled_from(
            [
                "/tryton/rpc/",
                "/tryton/rpc/",
                "/tryton/rpc/",
                "/",
                "/rpc/",
                "/tryton/",
                "/tryton/rpc",
                "/nosuch/rpc/",
            ]
        )
    )
    params = draw(st.lists(values, max_size=6))
    if draw(st.booleans()):
        params.append(draw(contexts))
    message: dict[str, object] = {
        "id": draw(st.integers(0, 10**6) | odd_text | json_values),  # any JSON id is echoed
        "method": draw(methods | json_values),
    }
    # trytond spreads whatever params it gets (*params): strings, maps, numbers, null
    message["params"] = params if draw(st.integers(0, 9)) else draw(json_values)
    for key in draw(st.sets(st.sampled_from(["id", "params", "extra"]), max_size=1)):
        if key == "extra":
            message["extra"] = 1
        else:
            del message[key]
    body = json.dumps(message, default=str).encode()
    kind = draw(st.sampled_from(["call"] * 6 + ["garbage", "deep", "deep_params"]))
    if kind == "garbage":
        body = draw(st.binary(max_size=64))
    elif kind == "deep":
        body = draw(deep_json)
    elif kind == "deep_params":
        body = (
            b'{"id":1,"method":"model.party.party.search","params":[' + draw(deep_json) + b",{}]}"
        )
    return path, body, {}, kind == "call" and message.keys() == ENVELOPE


def check(answer: Answer, enveloped: bool) -> None:
    assert not (answer.status == 500 and answer.content_type == "text/plain"), answer  # aiohttp
    if answer.content_type == "text/html":
        assert answer.body.startswith(b"<!doctype html>"), answer  # werkzeug's page
        assert answer.status in REFUSALS | {308, 409, 423, 500}, answer
        if enveloped:
            assert answer.status != 500, answer  # trytond wraps every exception it raises
        return
    if answer.content_type == "text/plain":
        assert (answer.status, answer.body) == (401, b""), answer  # the Basic challenge
        return
    if answer.status == 308:
        return
    assert answer.content_type == "application/json", answer
    body = json.loads(answer.body)
    assert answer.status == 200, answer
    if enveloped:
        assert isinstance(body, dict), answer
        assert set(body) in ({"id", "result"}, {"id", "error"}), answer
        if "error" in body:
            error = body["error"]
            assert isinstance(error, list), answer
            assert len(error) == 2, answer
            assert isinstance(error[0], str), answer


@FUZZ
@seeded
@given(call=calls(), auth=st.sampled_from(["session", "session", "none", "forged"]))
def test_every_call_answers_as_trytond(
    tryton: tuple[str, str], call: tuple[str, bytes, dict[str, str], bool], auth: str
) -> None:
    url, session = tryton
    path, body, headers, enveloped = call
    headers = {**JSON, **headers}
    if auth == "session":
        headers["Authorization"] = session
    elif auth == "forged":
        headers["Authorization"] = "Session " + base64.b64encode(b"admin:1:nope").decode()
    check(send(url, "POST", path, body, headers), enveloped)

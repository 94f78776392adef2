"""Fuzzing the webhook listener: whatever arrives, no 5xx, a JSON answer, and only signed
events acknowledged.

Bodies are raw bytes, JSON of any shape, and Stripe-like events with hostile values in each
field the listener reads; each is sent unsigned, with a hostile `Stripe-Signature`, or
signed properly by one of the configured secrets (so the decoding behind the signature check
is reached too). Bounded and derandomized for CI; `MEDIATOR_FUZZ_EXAMPLES` and
`MEDIATOR_FUZZ_SEED` run it longer (see tests/sandbox/fuzz_settings.py and the README).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st

from mediator.sandbox.stripe.webhooks import sign
from tests.ingress.webhook_support import NEW_SECRET, OLD_SECRET, running_mediator
from tests.sandbox.fuzz_settings import fuzzed

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_HOSTILE = _JSON | st.sampled_from(
    ["", "x" * 300, "invoice.paid", "in_1", -1, 2**70, 1e300, "\u0000", "..."]
)
_PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def _or_hostile(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # a good value most of the time, so that most events get past their other fields
    return st.one_of(good, good, good, _HOSTILE)


@st.composite
def _events(draw: Any) -> bytes:
    obj = {
        "id": draw(_or_hostile(st.from_regex(r"\Ain_[A-Za-z0-9]{1,12}\Z"))),
        "object": draw(_or_hostile(st.just("invoice"))),
        "lines": draw(_JSON),
    }
    event: dict[str, Any] = {
        "id": draw(_or_hostile(st.from_regex(r"\Aevt_[A-Za-z0-9]{1,12}\Z"))),
        "type": draw(_or_hostile(st.sampled_from(["invoice.paid", "customer.created"]))),
        "created": draw(_or_hostile(st.integers(min_value=0, max_value=2**40))),
        "data": draw(_or_hostile(st.just({"object": obj}))),
    }
    for name in draw(st.sets(st.sampled_from(sorted(event)), max_size=1)):  # one missing
        del event[name]
    return json.dumps(event).encode()


_BODIES = st.one_of(
    st.binary(max_size=300), _JSON.map(lambda v: json.dumps(v).encode()), _events(), _events()
)


async def test_the_listener_never_answers_5xx_and_always_json(tmp_path: Path) -> None:
    async with running_mediator(tmp_path) as running:

        def scenario() -> None:
            with requests.Session() as http:
                http.trust_env = False

                @fuzzed
                @given(
                    body=_BODIES,
                    signer=st.sampled_from(["new", "old", "other", "hostile", "none"]),
                    hostile=_PRINTABLE,
                    skew=st.sampled_from([0, 0, -299, 299, -301, 10**6]),
                    content_type=st.sampled_from(["application/json", "text/plain", ""]),
                )
                def probe(
                    body: bytes, signer: str, hostile: str, skew: int, content_type: str
                ) -> None:
                    headers = {"Content-Type": content_type} if content_type else {}
                    secret = {"new": NEW_SECRET, "old": OLD_SECRET, "other": "whsec_x"}.get(signer)
                    if secret is not None:
                        headers["Stripe-Signature"] = sign(secret, body, int(time.time()) + skew)
                    elif signer == "hostile":
                        headers["Stripe-Signature"] = hostile.strip()  # requests refuses the rest
                    what = f"{signer} skew={skew} {body[:200]!r}"
                    response = http.post(running.url, data=body, headers=headers)
                    assert response.status_code < 500, f"{what} -> {response.text[:300]}"
                    kind = response.headers.get("Content-Type", "")
                    assert kind.startswith(("application/json", "application/problem+json")), what
                    answer = response.json()
                    trusted = signer in ("new", "old") and abs(skew) < 300
                    if response.status_code == 200:
                        assert trusted, what
                        assert answer["received"] is True
                    else:
                        assert response.status_code == 400, what
                        assert answer["status"] == 400

                probe()

        await asyncio.to_thread(scenario)
        # the decoding behind the signature was reached: some events got into the journal
        assert running.journaled(), "no example reached the journal"

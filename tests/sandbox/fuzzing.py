"""What the sandbox fuzz tests share: a sandbox on a thread, a raw HTTP client, hostile values.

Hypothesis drives plain functions, so the sandbox runs on its own event loop in a thread and
the examples speak HTTP/1.1 through `http.client`, which sends any path, method and bytes as
given. `EXAMPLES` bounds each fuzz test: a few hundred in CI (seconds, derandomized, so every
run tries the same inputs); ``MEDIATOR_FUZZ_EXAMPLES=20000`` runs a longer pass before a
release, and ``MEDIATOR_FUZZ_SEED`` (any integer) explores other inputs than CI's.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mediator.sandbox.base import Sandbox
from mediator.sandbox.loopback import open_sandbox

EXAMPLES = int(os.environ.get("MEDIATOR_FUZZ_EXAMPLES", "200"))
_SEED = os.environ.get("MEDIATOR_FUZZ_SEED")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded CI machine is slow, not wrong
    derandomize=_SEED is None,
    database=None,  # no example database: CI runs are the same on every machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,  # a failure prints the blob that replays it (@reproduce_failure)
)
if _SEED is not None:
    print(f"fuzzing with MEDIATOR_FUZZ_SEED={_SEED}")


def seeded(test: Any) -> Any:
    """Apply ``MEDIATOR_FUZZ_SEED`` when it is set (CI derandomizes instead)."""
    if _SEED is None:
        return test
    from hypothesis import seed

    return seed(int(_SEED))(test)


@contextmanager
def serve_in_thread(sandbox: Sandbox) -> Iterator[str]:
    """Serve `sandbox` on a loopback port from a thread of its own; yield its base URL."""
    ready = threading.Event()
    found: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with open_sandbox(sandbox) as url:
            found.append(url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the sandbox did not start within 10 s")
    try:
        yield found[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


class Answer:
    """One HTTP answer: status, media type and body."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.content_type!r}, {self.body[:300]!r})"


def send(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Answer:
    """Send one request as given (no quoting, no redirects) and read the whole answer."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        media = response.getheader("Content-Type", "").split(";")[0].strip()
        return Answer(response.status, media, response.read())
    finally:
        connection.close()


# -- hostile values -------------------------------------------------------------------------

huge_digits = st.integers(min_value=19, max_value=6000).map(lambda n: "9" * n)
odd_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(10**400),
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "null", "true", "abc", "-1", "0", "1e999", "NaN", "\x00", "%", "[]", "{}"]
    ),
    huge_digits,
    st.text(alphabet="0123456789-:T+Z. ", max_size=32),  # near-dates and near-times
)
scalars = st.one_of(st.none(), st.booleans(), odd_numbers, odd_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """A JSON value nested `depth` levels."""
    return opener * depth + closer * depth


deep_json = st.integers(min_value=500, max_value=20_000).map(deep)

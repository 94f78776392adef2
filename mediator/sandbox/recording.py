"""Every request a sandbox answers, kept for assertions: what arrived and what went back."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import msgspec

__all__ = ["RecordedRequest", "RequestLog"]


class RecordedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One request as the sandbox saw it, with its outcome.

    `status` is None when the response was dropped on purpose (fault "commit then drop");
    `fault` names the injected fault that answered instead of the product, if any.
    """

    seq: int
    at: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    fault: str | None = None
    dropped: bool = False
    response_headers: dict[str, str] = {}
    response_body: bytes = b""

    def text(self) -> str:
        """Return the body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        """Return the response body parsed as JSON (None when it is empty)."""
        return msgspec.json.decode(self.response_body) if self.response_body else None

    def header(self, name: str) -> str | None:
        """Return a request header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


class RequestLog:
    """A bounded, ordered log of recorded requests.

    Bounded so that a sandbox left running through a long rehearsal does not grow without
    limit; `evicted` counts what the bound pushed out, so nothing disappears unnoticed.
    """

    def __init__(self, *, capacity: int = 100_000) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=capacity)
        self._seq = 0
        self.evicted = 0

    def next_seq(self) -> int:
        """Reserve the sequence number of the next request (arrival order)."""
        self._seq += 1
        return self._seq

    def append(self, entry: RecordedRequest) -> None:
        """Record one finished request."""
        if self._entries.maxlen is not None and len(self._entries) == self._entries.maxlen:
            self.evicted += 1
        self._entries.append(entry)

    def matching(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Return the recorded requests with this method and a path starting with `path`."""
        return [
            entry
            for entry in self._entries
            if (method is None or entry.method == method.upper())
            and (path is None or entry.path.startswith(path))
        ]

    def clear(self) -> None:
        """Forget every recorded request."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(list(self._entries))

"""The error tree of mediator: one base, subclasses by what the caller can do.

    MediatorError
    ├── ActorError                     the actor runtime
    │   ├── MailboxFull                tell_nowait on a full mailbox: wait (tell) or shed load
    │   ├── ActorStopped               the actor is gone; its pending asks fail with this
    │   ├── AskTimeout                 no reply within the deadline (also a TimeoutError)
    │   └── SupervisorEscalated        a failure climbed to the root supervisor (cause inside)
    ├── PolicyError                    a policy refused the call for now
    │   ├── CircuitOpen                the system is failing: retry after `retry_after`
    │   ├── RateLimited                over the rate: retry after `retry_after`
    │   ├── QuotaExhausted             the period's allowance is spent: resumes at `resets_at`
    │   ├── BulkheadFull               too many concurrent calls and the wait ran out
    │   └── PostingWindowClosed        finance calendar closed: opens at `opens_at`
    ├── ConnectorError                 talking to an external system failed
    │   ├── ConnectorTimeout           a deadline passed (connect, read or total)
    │   ├── ConnectorUnavailable       refused, reset, 5xx: the system is not there now
    │   ├── AuthenticationFailed       credentials rejected after a refresh
    │   └── RemoteRejected             the system answered with an error (status, code)
    ├── CodecError                     data does not fit the canonical model or a wire format
    │   ├── DecodeError                with the field path and the system it came from
    │   ├── CurrencyMismatch           arithmetic or comparison across two currencies
    │   └── AmountOutOfRange           money beyond a signed 64-bit count of minor units
    ├── BusinessRejected               the business rules refuse a message: dead letter, no retry
    │   ├── MissingReference           it names a record the target does not know (yet)
    │   └── NoFlowForKind              no enabled flow handles its kind
    ├── JournalError                   the durable log cannot be used (file and reason)
    │   └── Fenced                     a daemon's lease on the entries' partitions moved on
    └── ConfigError                    a configuration file is wrong (file, key, line)

Context lives in attributes and is rendered by ``__str__``; nobody needs to parse a message.
Foreign exceptions (aiohttp, sqlite3, msgspec) are translated once, at the edge, with
``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mediator.outcomes import Classification

__all__ = [
    "ActorError",
    "ActorStopped",
    "AmountOutOfRange",
    "AskTimeout",
    "AuthenticationFailed",
    "BulkheadFull",
    "BusinessRejected",
    "CircuitOpen",
    "CodecError",
    "ConfigError",
    "ConnectorError",
    "ConnectorTimeout",
    "ConnectorUnavailable",
    "CurrencyMismatch",
    "DecodeError",
    "Fenced",
    "JournalError",
    "MailboxFull",
    "MediatorError",
    "MissingReference",
    "NoFlowForKind",
    "PolicyError",
    "PostingWindowClosed",
    "QuotaExhausted",
    "RateLimited",
    "RemoteRejected",
    "SupervisorEscalated",
]


class MediatorError(Exception):
    """Base of every error mediator raises on purpose."""


# -- actors -------------------------------------------------------------------------------


class ActorError(MediatorError):
    """A problem delivering to or running an actor."""


class MailboxFull(ActorError):
    """`tell_nowait` found the mailbox at capacity; `await tell()` would have waited."""

    def __init__(self, actor: str, capacity: int) -> None:
        super().__init__(actor, capacity)
        self.actor = actor
        self.capacity = capacity

    def __str__(self) -> str:
        return f"mailbox of {self.actor} is full ({self.capacity} messages)"


class ActorStopped(ActorError):
    """The actor has stopped (or is stopping) and will not handle the message."""

    def __init__(self, actor: str) -> None:
        super().__init__(actor)
        self.actor = actor

    def __str__(self) -> str:
        return f"actor {self.actor} is stopped"


class AskTimeout(ActorError, TimeoutError):
    """`ask` got no reply within its timeout; the message may still be handled later."""

    def __init__(self, actor: str, timeout: float) -> None:
        super().__init__(actor, timeout)
        self.actor = actor
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no reply from {self.actor} within {self.timeout:g} s"


class SupervisorEscalated(ActorError):
    """A failure climbed to the root supervisor; the cause is in `__cause__`."""

    def __init__(self, supervisor: str, child: str) -> None:
        super().__init__(supervisor, child)
        self.supervisor = supervisor
        self.child = child

    def __str__(self) -> str:
        return f"supervisor {self.supervisor} gave up: {self.child} failed too often"


# -- policies -----------------------------------------------------------------------------


class PolicyError(MediatorError):
    """A resilience policy refused the call for now."""


class CircuitOpen(PolicyError):
    """The circuit of `system` is open; calls are refused until `retry_after` seconds pass."""

    def __init__(self, system: str, retry_after: float) -> None:
        super().__init__(system, retry_after)
        self.system = system
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"circuit of {self.system} is open; retry after {self.retry_after:.3g} s"


class RateLimited(PolicyError):
    """`system` is over its rate limit; retry after `retry_after` seconds."""

    def __init__(self, system: str, retry_after: float) -> None:
        super().__init__(system, retry_after)
        self.system = system
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.system} is rate limited; retry after {self.retry_after:.3g} s"


class QuotaExhausted(PolicyError):
    """The allowance of `system` for this period is spent (for `priority`); resets at `resets_at`.

    `resets_at` is a wall-clock time in epoch seconds.
    """

    def __init__(self, system: str, resets_at: float, *, priority: str = "") -> None:
        super().__init__(system, resets_at, priority)
        self.system = system
        self.resets_at = resets_at
        self.priority = priority

    def __str__(self) -> str:
        who = f" for {self.priority} work" if self.priority else ""
        return f"quota of {self.system} exhausted{who}; resets at epoch {self.resets_at:.0f}"


class BulkheadFull(PolicyError):
    """All `limit` concurrent slots of `target` stayed busy for the whole wait."""

    def __init__(self, target: str, limit: int) -> None:
        super().__init__(target, limit)
        self.target = target
        self.limit = limit

    def __str__(self) -> str:
        return f"bulkhead of {self.target} is full ({self.limit} concurrent calls)"


class PostingWindowClosed(PolicyError):
    """The finance calendar does not allow this posting now; it opens at `opens_at` (epoch s),
    `retry_after` seconds from when it was refused (None: it never opens), so the delivery is
    retried when it opens rather than on the usual backoff."""

    def __init__(
        self, window: str, opens_at: float | None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(window, opens_at)
        self.window = window
        self.opens_at = opens_at
        self.retry_after = retry_after

    def __str__(self) -> str:
        when = f"opens at epoch {self.opens_at:.0f}" if self.opens_at is not None else "never opens"
        return f"posting window {self.window} is closed; {when}"


# -- connectors ---------------------------------------------------------------------------


class ConnectorError(MediatorError):
    """A call to the external system `system` failed."""

    def __init__(self, system: str, detail: str = "") -> None:
        super().__init__(system, detail)
        self.system = system
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.system}: {self.detail}" if self.detail else self.system


class ConnectorTimeout(ConnectorError):
    """A deadline passed while talking to the system (which phase is in `detail`)."""


class ConnectorUnavailable(ConnectorError):
    """The system refused the connection, reset it or answered 5xx: it is not there now."""


class AuthenticationFailed(ConnectorError):
    """The system rejected the credentials even after a fresh login."""


class RemoteRejected(ConnectorError):
    """The system answered with an error: HTTP `status` and the system's own error `code`.

    `retry_after` is the wait the server asked for (``Retry-After`` and kin), when it gave one.
    `outcome` is how the transport classified the answer, its headers included (a
    ``Stripe-Should-Retry``), when the error comes from the transport.
    """

    def __init__(
        self,
        system: str,
        status: int,
        code: str = "",
        detail: str = "",
        *,
        retry_after: float | None = None,
        outcome: Classification | None = None,
    ) -> None:
        super().__init__(system, detail)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.outcome = outcome

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.system} rejected the call with {self.status}{code}{detail}"


# -- codecs -------------------------------------------------------------------------------


class CodecError(MediatorError):
    """Data does not fit the canonical model or a system's wire format."""


class DecodeError(CodecError):
    """A payload from `system` is invalid at `path` (a JSON path such as ``$.entries[3].hours``)."""

    def __init__(self, system: str, path: str, reason: str) -> None:
        super().__init__(system, path, reason)
        self.system = system
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.system} payload invalid at {self.path}: {self.reason}"


class CurrencyMismatch(CodecError, ValueError):
    """Money in `left` and `right` currencies was added, subtracted or compared: a bug upstream."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(left, right)
        self.left = left
        self.right = right

    def __str__(self) -> str:
        return f"cannot combine {self.left} with {self.right}"


class AmountOutOfRange(CodecError, ValueError):
    """`operation` would make (or made) an amount of `currency` beyond ±(2**63 - 1) minor units.

    What a signed 64-bit column holds, and what every system here stores. A `ValueError` too,
    so msgspec reports it with the field path when it happens while decoding.
    """

    def __init__(self, operation: str, currency: str) -> None:
        super().__init__(operation, currency)
        self.operation = operation
        self.currency = currency

    def __str__(self) -> str:
        limit = "±(2**63 - 1) minor units"
        return f"{self.operation} is out of range for {self.currency} (beyond {limit})"


class BusinessRejected(MediatorError):
    """A message the business rules refuse: `what` it is about and `why`.

    Never retried as is: it becomes a dead letter with this reason, for an operator to fix the
    cause and replay, or to release.
    """

    def __init__(self, what: str, why: str) -> None:
        super().__init__(what, why)
        self.what = what
        self.why = why

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


class MissingReference(BusinessRejected):
    """The message names something the target system does not know (yet).

    Becomes a dead letter whose reason says what is missing; replay it once the reference
    exists (for example after the project was onboarded).
    """


class NoFlowForKind(BusinessRejected):
    """No enabled flow handles the entry's kind: enable the flow, then replay the entry."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"kind {kind!r}", "no enabled flow handles it: enable one, then replay")
        self.kind = kind


# -- journal and config -------------------------------------------------------------------


class JournalError(MediatorError):
    """The journal at `path` cannot be used: `reason` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"journal {self.path}: {self.reason}"


class Fenced(JournalError):
    """State changes of `ids` (in `partitions`) were refused: `owner` no longer holds those
    partitions at the epoch it carried (another daemon took them over). The rest of the call,
    and every other write committed with it, went through; the refused entries are the new
    owner's to deliver, so the caller drops them rather than retrying."""

    def __init__(
        self, journal: str, *, owner: str, ids: Sequence[str], partitions: Sequence[int]
    ) -> None:
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        held = ", ".join(str(p) for p in sorted(set(partitions)))
        super().__init__(journal, f"{owner} no longer holds partition(s) {held}: refused {shown}")
        self.owner = owner
        self.ids = tuple(ids)
        self.partitions = tuple(sorted(set(partitions)))


class ConfigError(MediatorError):
    """The configuration in `file` is wrong at `key` (and `line` when known)."""

    def __init__(self, file: str, key: str, reason: str, *, line: int | None = None) -> None:
        super().__init__(file, key, reason, line)
        self.file = file
        self.key = key
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" [{self.key}]" if self.key else ""
        return f"{where}{key}: {self.reason}"

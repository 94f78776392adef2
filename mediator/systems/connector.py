"""The base of every connector: its transport, in-process retries, and its statistics.

One layer owns retries, and it is this one for a single call: `run_with_retries` retries what
the endpoint's `RetrySchedule` calls transient, while the delay is short enough to hold in
memory (`inline_retry_cap`). Beyond that — a long `Retry-After`, a quota that resets tomorrow,
attempts used up — the error goes up to the journal, which schedules the entry again or
dead-letters it; the attempt number travels with the command, so attempts count end to end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, TypeVar

import aiohttp
import msgspec

from mediator.clock import Clock
from mediator.codecs.canonical.commands import Command
from mediator.errors import HeldBack, MediatorError, QuotaExhausted, RemoteRejected
from mediator.policies import (
    Classification,
    ErrorCodes,
    PolicyRegistry,
    PolicySet,
    PolicyStatistics,
    Verdict,
)
from mediator.systems.http import HttpTransport, TransportStatistics

__all__ = ["Command", "Connector", "ConnectorStatistics"]

T = TypeVar("T")


class ConnectorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Calls, batches and errors of one connector, with its policies' state."""

    system: str
    transport: TransportStatistics
    batches: int
    batched_commands: int
    average_batch: float
    retries: int
    policies: PolicyStatistics


class Connector:
    """Shared machinery of the connectors; subclasses add auth, reads and writes.

    Every connector is built the same way: the system's `base_url`, the mediator's `policies`
    and `clock`, optionally a shared aiohttp `session`, then its own options as keywords, its
    one secret always as `secret`: a source (``lambda: load_secret("env:…")``) it reads when it
    needs the secret and again when the system refuses it, so a rotated secret needs no
    restart; `credential_loads` counts those reads (token grants, logins). It makes its
    `transport` itself, with its `system` name and `error_code` reader,
    and tells the policies what the system's error codes mean (`error_codes`, from its vendor
    codec). A connector is used by one system actor; `execute_batch` is what that actor calls.
    """

    system: str = ""
    #: what the system's own error codes mean (none here: the status alone)
    error_codes: ClassVar[ErrorCodes] = ErrorCodes()

    def __init__(
        self,
        *,
        base_url: str,
        policies: PolicyRegistry,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        inline_retry_cap: float = 30.0,
    ) -> None:
        policies.register_error_codes(self.system, self.error_codes)
        self.transport = HttpTransport(
            system=self.system,
            base_url=base_url,
            policies=policies,
            clock=clock,
            error_code=self.error_code,
            session=session,
        )
        self.clock = clock
        self.inline_retry_cap = inline_retry_cap
        self._batches = 0
        self._batched = 0
        self._retries = 0

    @property
    def credential_loads(self) -> int:
        """How many times the secret was read to get a credential (none here)."""
        return 0

    @staticmethod
    def error_code(status: int, body: bytes) -> str | None:
        """Read the system's own error code from an answer body (none here: the status alone)."""
        return None

    async def execute_batch(self, commands: Sequence[Command]) -> Sequence[object]:
        """Carry out `commands`, in bulk where the system allows; a result or error for each."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute_batch()")

    async def run_with_retries(
        self, call: Callable[[], Awaitable[T]], *, endpoint: str, attempt: int = 1
    ) -> T:
        """Run `call`, retrying transient failures on the clock while the wait is short.

        Raises the last error when the schedule says dead, or when the next wait is longer
        than `inline_retry_cap` (the journal then holds the work durably instead).
        """
        policy = self.transport.policy_for(endpoint)
        started = self.clock.monotonic()
        while True:
            try:
                return await call()
            except MediatorError as exc:
                if isinstance(exc, HeldBack):
                    raise  # retried inline it would hold every other call of this daemon back
                outcome = self._classify(policy, exc)
                decision = policy.decide(
                    outcome, attempt=attempt, elapsed=self.clock.monotonic() - started
                )
                if (
                    decision.verdict is not Verdict.RETRY
                    or decision.deferred
                    or decision.delay > self.inline_retry_cap
                ):
                    raise
                self._retries += 1
                attempt += 1
                await self.clock.sleep(decision.delay)

    def _classify(self, policy: PolicySet, exc: MediatorError) -> Classification:
        if isinstance(exc, RemoteRejected) and exc.outcome is not None:
            return exc.outcome  # the transport's verdict, made with the answer's headers
        wait = getattr(exc, "retry_after", None)
        if isinstance(exc, QuotaExhausted):
            # resets in hours, not seconds: the journal holds the work until then
            wait = max(exc.resets_at - self.clock.time(), 0.0)
        return policy.classifier.classify(error=exc, retry_after=wait)

    def count_batch(self, size: int) -> None:
        """Record one bulk call carrying `size` commands (for `statistics()`)."""
        self._batches += 1
        self._batched += size

    def statistics(self) -> ConnectorStatistics:
        """Return calls, batches, average batch size, errors by class and policy state."""
        return ConnectorStatistics(
            system=self.system,
            transport=self.transport.statistics(),
            batches=self._batches,
            batched_commands=self._batched,
            average_batch=self._batched / self._batches if self._batches else 0.0,
            retries=self._retries,
            policies=self.transport.policies.statistics(),
        )

    async def aclose(self) -> None:
        """Release the HTTP session."""
        await self.transport.aclose()

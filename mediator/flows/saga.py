"""The step runner every multi-step flow shares: a saga whose progress is flow state.

A flow declares its steps in order; `Saga.run` runs the first unfinished one, saves what it
produced (the ids it made, as strings) in the journal's flow state, then the next. A crash,
a retry or a replay loads that state and resumes at the first unfinished step: a finished
step is never run again. A step that made its effect but crashed before the save runs again
with the same idempotency key (`Saga.key`), which every connector turns into a look-up of the
first write (Stripe's ``Idempotency-Key``, Tryton's and Harvest's references, Salesforce's
external ids), so the repeat finds the effect instead of making a second one.

Resuming, replaying and correcting are written here once for every flow, not by hand in each.

The state also carries the saga's `status` (``running``, ``waiting``, ``done``, ``rejected``,
``failed``) and a `note` for people (why it waits, which rules failed), which the flows show
on the admin API and write back to the CRM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal, Protocol, TypeAlias

import msgspec

from mediator.errors import ActorError
from mediator.journal import Journal

__all__ = ["Saga", "SagaConflict", "SagaState", "Step"]

SagaStatus: TypeAlias = Literal["running", "waiting", "done", "rejected", "failed"]
"""Where a saga stands: its steps running, waiting on something else (a parent account, the
posting window), all done, refused by the business rules, or failed for good at a step."""


class SagaState(msgspec.Struct, frozen=True, kw_only=True):
    """A saga's progress: each finished step's outputs, by step name, and its status.

    `version` is the source version (e.g. the CRM's ``SystemModstamp``) the saga last ran for;
    `detail` holds the flow's own facts (decoded by the flow, opaque here).
    """

    status: SagaStatus = "running"
    done: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    note: str = ""
    version: str = ""
    detail: dict[str, str] = msgspec.field(default_factory=dict)

    def output(self, step: str, name: str) -> str:
        """The output `name` of the finished `step` (KeyError if it did not finish)."""
        return self.done[step][name]


class SagaConflict(ActorError):
    """Another incarnation saved this saga meanwhile: the delivery is retried, and the retry
    resumes from what that one saved (an actor error: the runtime's trouble, retried)."""

    def __init__(self, flow: str, entity: str) -> None:
        super().__init__(f"{flow} {entity}", "saved concurrently; retried from the saved state")


class Step(Protocol):
    """One step: its name (unique in its saga) and its effect, returning what it made."""

    @property
    def name(self) -> str:
        """The step's name: its place in the saved state and in its idempotency keys."""
        ...

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Make (or find) the step's effect; return the ids it made, to be saved."""
        ...


#: How often a run reads the state again after another save came first, before giving up.
_CONFLICTS = 5
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(SagaState).decode


class Saga:
    """The saga of `flow` for one `entity`: load, run steps in order, save after each."""

    def __init__(self, journal: Journal, flow: str, entity: str) -> None:
        self.journal = journal
        self.flow = flow
        self.entity = entity
        self.state = SagaState()
        self._version = 0

    async def load(self) -> SagaState:
        """Read the saved state (a fresh one when there is none)."""
        saved = await self.journal.load_flow(self.flow, self.entity)
        if saved is None:
            self.state, self._version = SagaState(), 0
        else:
            self.state, self._version = _decode(saved.state), saved.version
        return self.state

    def key(self, step: str, part: str = "") -> str:
        """The deterministic idempotency key of `step`'s effect (and of its `part`, when a
        step makes several): the same on every run, crash or replay of this saga."""
        suffix = f":{part}" if part else ""
        return f"{self.flow}:{self.entity}:{step}{suffix}"

    def finished(self, step: str) -> bool:
        """Whether `step` finished (its outputs are saved)."""
        return step in self.state.done

    async def run(self, steps: Sequence[Step]) -> SagaState:
        """Run every unfinished step in order, saving after each; mark the saga done.

        A step's exception leaves the steps before it saved and propagates (the dispatcher
        retries the delivery or dead-letters it; the next delivery resumes at this step).
        A saga shared by several entities (one client's, for each of its deals) may be saved
        by another of them meanwhile: the saved state is read again and the run goes on from
        there (a step both ran is found, not made twice, by its idempotency key), a few
        times before `SagaConflict` is left to the dispatcher's retry.
        """
        for _ in range(_CONFLICTS - 1):
            try:
                return await self._run(steps)
            except SagaConflict:
                await self.load()
        return await self._run(steps)

    async def _run(self, steps: Sequence[Step]) -> SagaState:
        for step in steps:
            if step.name in self.state.done:
                continue
            outputs = dict(await step.run(self))
            await self.save(
                msgspec.structs.replace(
                    self.state, status="running", done={**self.state.done, step.name: outputs}
                )
            )
        if self.state.status != "done":
            await self.save(msgspec.structs.replace(self.state, status="done", note=""))
        return self.state

    async def settle(self, name: str, choose: Callable[[], Awaitable[str]]) -> str:
        """A value an effect is looked up by (a name, a reference), chosen once and kept in
        the saga's detail: a retry after a lost answer must look for what the first attempt
        made, even if what it was chosen from changed meanwhile (the deal renamed, a namesake
        account added)."""
        kept = self.state.detail.get(name)
        if kept is not None:
            return kept
        chosen = await choose()
        await self.mark(self.state.status, self.state.note, **{name: chosen})
        return chosen

    async def mark(self, status: SagaStatus, note: str = "", **detail: str) -> SagaState:
        """Save a new status and note (and detail entries), keeping the finished steps."""
        merged = {**self.state.detail, **detail}
        return await self.save(
            msgspec.structs.replace(self.state, status=status, note=note, detail=merged)
        )

    async def save(self, state: SagaState) -> SagaState:
        """Save `state` over the loaded version; `SagaConflict` if another save came first."""
        saved = await self.journal.save_flow(
            self.flow, self.entity, _encode(state), expected_version=self._version
        )
        if saved is None:
            raise SagaConflict(self.flow, self.entity)
        self.state, self._version = state, saved.version
        return state

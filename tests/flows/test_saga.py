"""The saga step runner: steps in order, resumed after a failure, shared safely."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from mediator.clock import SystemClock
from mediator.flows.saga import Saga, SagaConflict
from mediator.journal import open_journal


class _Step:
    def __init__(self, name: str, made: list[str], *, fail: bool = False) -> None:
        self.name = name
        self.made = made
        self.fail = fail

    async def run(self, saga: Saga) -> Mapping[str, str]:
        if self.fail:
            raise RuntimeError(f"{self.name} is down")
        self.made.append(saga.key(self.name))
        return {"id": f"{self.name}-1"}


async def test_a_saga_resumes_at_its_first_unfinished_step_and_never_repeats_one(
    tmp_path: Path,
) -> None:
    made: list[str] = []
    async with open_journal(tmp_path / "j.sqlite", clock=SystemClock()) as journal:
        saga = Saga(journal, "onboarding", "opportunity:1")
        await saga.load()
        with pytest.raises(RuntimeError, match="erp is down"):
            await saga.run([_Step("client", made), _Step("erp", made, fail=True)])
        assert saga.state.status == "running"
        again = Saga(journal, "onboarding", "opportunity:1")  # a retry, after a restart
        await again.load()
        state = await again.run([_Step("client", made), _Step("erp", made)])
        assert state.status == "done"
        assert state.output("erp", "id") == "erp-1"
        assert made == ["onboarding:opportunity:1:client", "onboarding:opportunity:1:erp"]
        await again.run([_Step("client", made), _Step("erp", made)])  # a replay: nothing
        assert len(made) == 2


async def test_a_shared_saga_saved_meanwhile_goes_on_from_what_was_saved(tmp_path: Path) -> None:
    made: list[str] = []
    async with open_journal(tmp_path / "j.sqlite", clock=SystemClock()) as journal:
        one, other = Saga(journal, "client", "account:1"), Saga(journal, "client", "account:1")
        await one.load()
        await other.load()
        await other.run([_Step("tryton", made)])  # another deal of the account went first
        state = await one.run([_Step("tryton", made), _Step("harvest", made)])
        assert state.status == "done"
        assert set(state.done) == {"tryton", "harvest"}
        assert made.count("client:account:1:harvest") == 1


async def test_a_save_over_a_stale_version_is_a_conflict(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite", clock=SystemClock()) as journal:
        one, other = Saga(journal, "client", "account:1"), Saga(journal, "client", "account:1")
        await one.load()
        await other.load()
        await other.mark("waiting", "for the parent")
        with pytest.raises(SagaConflict):
            await one.mark("running")


async def test_a_settled_name_is_kept_though_what_it_was_chosen_from_changed(
    tmp_path: Path,
) -> None:
    async with open_journal(tmp_path / "j.sqlite", clock=SystemClock()) as journal:
        names = iter(["P-1 Website", "P-1 Website relaunch (renamed)"])

        async def choose() -> str:
            return next(names)

        first = Saga(journal, "onboarding", "opportunity:1")
        await first.load()
        assert await first.settle("project_name", choose) == "P-1 Website"
        retry = Saga(journal, "onboarding", "opportunity:1")  # after a lost answer
        await retry.load()
        assert await retry.settle("project_name", choose) == "P-1 Website"

"""Parametrizes the conformance suite's `harness` fixture over every `harness_<system>.py`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.testing.conformance import ConnectorHarness

_HERE = Path(__file__).parent
_SYSTEMS = sorted(
    info.name.removeprefix("harness_")
    for info in pkgutil.iter_modules([str(_HERE)])
    if info.name.startswith("harness_")
)


_PARAMS: list[object] = [*_SYSTEMS] or [pytest.param(None, marks=pytest.mark.skip("no harness"))]


@pytest.fixture(params=_PARAMS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ConnectorHarness]:
    module = importlib.import_module(f"tests.systems.harness_{request.param}")
    async with module.open_harness() as found:
        yield found

"""Fixtures: a fake clock and an aiohttp client session for talking to sandboxes over loopback."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mediator.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session

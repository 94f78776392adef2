"""The conformance suite: every connector, against its sandbox, passes the same scenarios.

The scenarios live in `mediator.testing.conformance` (a team adding a system runs them on its
own connector). Harnesses (one per connector) live beside this file as `harness_<system>.py`
and expose an async context manager `open_harness()`; `conftest.py` parametrizes the
`harness` fixture over every one that exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from mediator.testing.conformance import SCENARIOS, ConnectorHarness


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_every_connector_passes_the_scenario(
    harness: ConnectorHarness, scenario: Callable[[ConnectorHarness], Awaitable[None]]
) -> None:
    await scenario(harness)

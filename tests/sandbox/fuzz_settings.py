"""Shared settings of the Stripe and Salesforce fuzz tests: fixed for CI, longer on request.

Each fuzz test serves one sandbox on loopback and drives it over real HTTP from a
Hypothesis-decorated function run in a thread (Hypothesis' `@given` wants a synchronous
function; the server keeps running on the test's event loop meanwhile).

    MEDIATOR_FUZZ_EXAMPLES=20000      examples per fuzz test (default 150: seconds in CI)
    MEDIATOR_FUZZ_SEED=12345          a random seed instead of the fixed derandomized run

The settings and the seed in force are printed, so a failing long run can be replayed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from hypothesis import HealthCheck, seed, settings

__all__ = ["EXAMPLES", "fuzzed", "no_server_error"]

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = int(os.environ.get("MEDIATOR_FUZZ_EXAMPLES", "150"))
_SEED = os.environ.get("MEDIATOR_FUZZ_SEED")


def fuzzed(function: F) -> F:
    """Apply the fuzz settings to a `@given` function (bounded, fixed unless a seed is set)."""
    print(f"fuzz: {EXAMPLES} examples, seed {_SEED or 'fixed (derandomize=True)'}")
    configured = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=_SEED is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(function)
    if _SEED is not None:
        configured = seed(int(_SEED))(configured)
    return configured


def no_server_error(response: requests.Response, what: str) -> Any:
    """Assert `response` is not a 5xx and is JSON (unless 204); return the decoded body."""
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"
    if response.status_code == 204:
        return None
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        f"{what} -> {response.status_code} {response.headers.get('Content-Type')}: "
        f"{response.text[:300]}"
    )
    return response.json() if response.content else None

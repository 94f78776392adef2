"""Fault injection for the sandboxes: latency, errors, outages, limit storms, dropped responses.

A `FaultPlan` says what to inject; a `FaultInjector` draws, request by request, what happens
to each one from a `random.Random` seeded by the plan, so the same plan and the same sequence
of requests give the same faults. Outage windows are measured on the sandbox's clock from the
moment the plan was installed, so a `FakeClock` moves a sandbox into and out of an outage.
`load_fault_plans` reads the JSON file `mediator sandbox --faults` takes (`FAULT_FILE_HELP`
shows its format), naming the file and the key of anything wrong in it.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import msgspec

from mediator.clock import Clock
from mediator.errors import ConfigError

__all__ = [
    "FAULT_FILE_HELP",
    "Decision",
    "FaultInjector",
    "FaultPlan",
    "FaultStatistics",
    "Outage",
    "load_fault_plans",
]

# Decoded plans (a --faults file, POST /__sandbox/faults) are checked against these bounds, so
# a rate of 3 or a negative wait is refused naming the field instead of behaving oddly.
_Seconds = Annotated[float, msgspec.Meta(ge=0.0)]
_Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
_ErrorStatus = Annotated[int, msgspec.Meta(ge=400, le=599)]

#: The format of a fault-plan file, shown by `mediator sandbox --help` and in the README.
FAULT_FILE_HELP = """\
fault-plan file (--faults FILE.json): a JSON object mapping a served product
(salesforce, harvest, stripe, tryton) to its plan; every field is optional:

  {"tryton": {"seed": 42, "error_rate": 0.03, "error_status": 503,
              "drop_rate": 0.02},
   "harvest": {"latency": 0.2, "jitter": 0.1, "storm": 5, "retry_after": 2,
               "outages": [{"start": 30, "end": 60}]}}

  seed          seed of the draws (same plan + same requests = same faults)
  latency, jitter   seconds added to every response (+ uniform up to jitter)
  error_rate    share (0..1) of requests answered error_status (400..599)
  outages       [{"start": s, "end": s}]: 503 inside these windows, seconds
                after the sandbox started
  storm         that many requests in a row get the product's rate-limit
                answer; storm_windows: the same inside windows
  retry_after   seconds in Harvest's Retry-After (retry_after_header: true
                adds Retry-After to every product's limit answer)
  drop_rate     share (0..1) of requests carried out, then their connection
                closed unanswered; drop_next: the next that many requests
  paths         path prefixes the plan applies to (default: every path)
A running sandbox takes a new plan at POST <url>/__sandbox/faults."""


class Outage(msgspec.Struct, frozen=True, kw_only=True):
    """A window, in seconds after the plan was installed (an outage, or a limit storm)."""

    start: _Seconds
    end: _Seconds

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"an outage window ends after it starts ({self.start} >= {self.end})")


class FaultPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What to inject into a sandbox; the default plan injects nothing.

    - `latency` (+ a uniform draw up to `jitter`) delays every response on the sandbox's clock.
    - `error_rate` of requests are answered with `error_status` before the product sees them.
    - `outages` answer 503 inside their windows.
    - `storm` requests in a row, and every request inside `storm_windows`, get the product's
      own limit answer: Salesforce 403 REQUEST_LIMIT_EXCEEDED, Harvest 429 with `Retry-After`
      of `retry_after` seconds, Stripe 429 `rate_limit` with `Stripe-Should-Retry: true`,
      Tryton 429. Only Harvest states a wait, as the real products do (the official Stripe SDK
      reads no Retry-After); `retry_after_header` adds `Retry-After` to every product's storm
      answer, for a test that must see the wait honoured whatever the product.
    - `drop_rate` of requests, and the next `drop_next` ones, are carried out (committed) and
      then their connection is closed with no response: the client cannot tell it worked.
    - `paths`: path prefixes the plan applies to; empty means every product path.
    """

    seed: int = 0
    latency: _Seconds = 0.0
    jitter: _Seconds = 0.0
    error_rate: _Rate = 0.0
    error_status: _ErrorStatus = 500
    outages: tuple[Outage, ...] = ()
    storm: _Count = 0
    storm_windows: tuple[Outage, ...] = ()
    retry_after: _Seconds = 1.0
    retry_after_header: bool = False
    drop_rate: _Rate = 0.0
    drop_next: _Count = 0
    paths: tuple[str, ...] = ()


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What happens to one request: a delay, maybe an injected answer, maybe a dropped reply."""

    delay: float = 0.0
    answer: str | None = None  # "error" | "outage" | "storm"
    drop: bool = False


class FaultStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counts of injected faults since the plan was installed."""

    decided: int
    errors: int
    outages: int
    storms: int
    drops: int
    storm_left: int
    drops_left: int


class FaultInjector:
    """Draws a `Decision` for each request from the installed `FaultPlan`."""

    def __init__(self, clock: Clock, plan: FaultPlan | None = None) -> None:
        self._clock = clock
        self._plan = plan or FaultPlan()
        self._installed_at: float | None = None
        self._rng = random.Random(self._plan.seed)
        self._storm_left = self._drops_left = 0
        self._decided = self._errors = self._outages = self._storms = self._drops = 0
        self._reset()

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def install(self, plan: FaultPlan) -> None:
        """Replace the plan: reseed, restart outage windows and counters from now."""
        self._plan = plan
        self._installed_at = self._clock.monotonic()
        self._reset()

    def start(self) -> None:
        """Start the outage windows of the initial plan (called when the server starts)."""
        if self._installed_at is None:
            self._installed_at = self._clock.monotonic()

    def decide(self, path: str) -> Decision:
        """Draw the fate of one request to `path` (call once per request, in arrival order)."""
        plan = self._plan
        if plan.paths and not path.startswith(plan.paths):
            return Decision()
        self._decided += 1
        delay = plan.latency + (self._rng.uniform(0.0, plan.jitter) if plan.jitter else 0.0)
        answer: str | None = None
        if self._within(plan.outages):
            answer = "outage"
            self._outages += 1
        elif self._storm_left > 0 or self._within(plan.storm_windows):
            self._storm_left = max(self._storm_left - 1, 0)
            self._storms += 1
            answer = "storm"
        elif plan.error_rate and self._rng.random() < plan.error_rate:
            self._errors += 1
            answer = "error"
        drop = False
        if answer is None:
            if self._drops_left > 0:
                self._drops_left -= 1
                drop = True
            elif plan.drop_rate and self._rng.random() < plan.drop_rate:
                drop = True
            self._drops += drop
        return Decision(delay=delay, answer=answer, drop=drop)

    def statistics(self) -> FaultStatistics:
        """Return the counts of faults injected under the current plan."""
        return FaultStatistics(
            decided=self._decided,
            errors=self._errors,
            outages=self._outages,
            storms=self._storms,
            drops=self._drops,
            storm_left=self._storm_left,
            drops_left=self._drops_left,
        )

    def _within(self, windows: tuple[Outage, ...]) -> bool:
        if not windows:
            return False
        self.start()
        assert self._installed_at is not None
        elapsed = self._clock.monotonic() - self._installed_at
        return any(w.start <= elapsed < w.end for w in windows)

    def _reset(self) -> None:
        self._rng = random.Random(self._plan.seed)
        self._storm_left = self._plan.storm
        self._drops_left = self._plan.drop_next
        self._decided = self._errors = self._outages = self._storms = self._drops = 0


def load_fault_plans(path: Path, *, products: Collection[str]) -> dict[str, FaultPlan]:
    """Read a fault-plan file: a JSON object of product name -> `FaultPlan` fields.

    Raises `ConfigError(file, key, reason)` for an unreadable file, a product not in
    `products` (a plan for it would be silently ignored) or a field of the wrong type or range.
    """
    try:
        raw = msgspec.json.decode(path.read_bytes(), type=dict[str, msgspec.Raw])
    except OSError as exc:
        raise ConfigError(str(path), "", exc.strerror or str(exc)) from exc
    except msgspec.DecodeError as exc:  # also a top level that is not an object
        raise ConfigError(str(path), "", f"not a JSON object of product -> plan ({exc})") from exc
    plans: dict[str, FaultPlan] = {}
    for product, body in raw.items():
        if product not in products:
            raise ConfigError(
                str(path), product, f"not a product served here ({', '.join(products)})"
            )
        try:
            plans[product] = msgspec.json.decode(body, type=FaultPlan)
        except msgspec.DecodeError as exc:
            message, _, where = str(exc).partition(" - at `$")
            key = product + where.rstrip("`") if where else product
            raise ConfigError(str(path), key, message) from exc
    return plans

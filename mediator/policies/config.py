"""Named policies in TOML, bound to targets, in the spirit of Dapr's resiliency spec.

    [policies.ratelimits.harvest]          # a named policy of kind `ratelimits`
    rate = 5.0
    burst = 25

    [[targets]]                            # binds policies to a system (or to its endpoints)
    system = "harvest"
    ratelimit = "harvest"

    [[targets]]
    system = "harvest"
    endpoint = "/v2/reports/*"             # a glob: this target wins for matching endpoints
    ratelimit = "harvest_reports"

Kinds: ratelimits, quotas, breakers, retries, timeouts, bulkheads, windows, approvals. A
configuration is validated whole on load; the first problem raises `ConfigError` naming the
file, the key path (``policies.ratelimits.harvest.rate``, ``targets[2].quota``) and, when it can
be found, the line. A user file is layered over the shipped defaults (`defaults.toml`): its
policies replace same-named ones and its targets apply after the defaults' targets.
"""

from __future__ import annotations

import datetime
import fnmatch
import importlib.resources
import zoneinfo
from pathlib import Path

import msgspec

from mediator.errors import ConfigError
from mediator.policies.periods import DailyPeriod
from mediator.policies.specs import (
    BreakerSpec,
    BulkheadSpec,
    QuotaSpec,
    RateLimitSpec,
    RetrySpec,
    TargetSpec,
    WindowSpec,
)
from mediator.policies.timeouts import Timeouts
from mediator.policies.window import ApprovalRule
from mediator.tomlfile import Fail, convert, failing, parse_toml

__all__ = [
    "PolicyConfig",
    "default_policy_config",
    "load_policy_config",
    "parse_policy_config",
    "policy_config_from",
]
# target field -> the policy kind it names; "default" policies of the last three apply unbound
_BINDINGS = {
    "ratelimit": "ratelimits",
    "quota": "quotas",
    "bulkhead": "bulkheads",
    "window": "windows",
    "approval": "approvals",
    "retry": "retries",
    "timeout": "timeouts",
    "breaker": "breakers",
}
_DEFAULTED = ("retry", "timeout", "breaker")


class PolicyConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A validated set of named policies and the targets they are bound to."""

    ratelimits: dict[str, RateLimitSpec] = {}
    quotas: dict[str, QuotaSpec] = {}
    breakers: dict[str, BreakerSpec] = {}
    retries: dict[str, RetrySpec] = {}
    timeouts: dict[str, Timeouts] = {}
    bulkheads: dict[str, BulkheadSpec] = {}
    windows: dict[str, WindowSpec] = {}
    approvals: dict[str, tuple[ApprovalRule, ...]] = {}
    targets: tuple[TargetSpec, ...] = ()

    def resolve(self, system: str, endpoint: str = "") -> TargetSpec:
        """The policy names bound to `endpoint` of `system`, as one fully resolved target.

        System-wide targets apply first, then those whose `endpoint` glob matches, the more
        specific (more literal characters) later; a later binding replaces an earlier one.
        A retry, timeout or breaker left unbound is the policy named ``default``, if any.
        """
        system_wide = [t for t in self.targets if t.system == system and t.endpoint is None]
        by_endpoint = [
            t
            for t in self.targets
            if t.system == system
            and t.endpoint is not None
            and fnmatch.fnmatchcase(endpoint, t.endpoint)
        ]
        by_endpoint.sort(key=lambda t: len((t.endpoint or "").replace("*", "")))
        bound: dict[str, str] = {}
        for target in (*system_wide, *by_endpoint):
            for field in _BINDINGS:
                name = getattr(target, field)
                if name is not None:
                    bound[field] = name
        for field in _DEFAULTED:
            if field not in bound and "default" in getattr(self, _BINDINGS[field]):
                bound[field] = "default"
        return TargetSpec(system=system, endpoint=endpoint or None, **bound)

    def layered(self, other: PolicyConfig) -> PolicyConfig:
        """This configuration with `other`'s policies replacing same-named ones and its targets
        applied after this one's."""
        fields = {kind: {**getattr(self, kind), **getattr(other, kind)} for kind in _KIND_TYPES}
        return PolicyConfig(**fields, targets=(*self.targets, *other.targets))


_KIND_TYPES: dict[str, object] = {
    "ratelimits": RateLimitSpec,
    "quotas": QuotaSpec,
    "breakers": BreakerSpec,
    "retries": RetrySpec,
    "timeouts": Timeouts,
    "bulkheads": BulkheadSpec,
    "windows": WindowSpec,
    "approvals": tuple[ApprovalRule, ...],
}


def parse_policy_config(
    text: str, *, file: str = "<string>", base: PolicyConfig | None = None
) -> PolicyConfig:
    """Parse and validate TOML `text` (from `file`), layered over `base` if given.

    Raises `ConfigError(file, key, reason, line=)` for the first problem found; references
    from targets may name policies of `base`.
    """
    data = parse_toml(text, file=file)
    fail = failing(text, file=file)
    for key in data:
        if key not in ("policies", "targets"):
            raise fail(key, "unknown section (expected policies or targets)")
    return policy_config_from(
        data.get("policies", {}), data.get("targets", []), fail=fail, base=base
    )


def policy_config_from(
    policies: object,
    targets: object,
    *,
    fail: Fail,
    base: PolicyConfig | None = None,
    prefix: str = "",
) -> PolicyConfig:
    """Validate already parsed `policies` (a table of kinds) and `targets` (an array of tables).

    `prefix` is where they sit in their file (``"policies."`` when the targets are
    ``[[policies.targets]]`` of `mediator.toml`), so that errors name the key as written.
    """
    if not isinstance(policies, dict):
        raise fail("policies", "must be a table")
    parsed: dict[str, dict[str, object]] = {}
    for kind, named in policies.items():
        if kind not in _KIND_TYPES:
            raise fail(f"policies.{kind}", f"unknown policy kind (one of {', '.join(_KIND_TYPES)})")
        if not isinstance(named, dict):
            raise fail(f"policies.{kind}", "must be a table of named policies")
        parsed[kind] = {
            name: convert(value, _KIND_TYPES[kind], f"policies.{kind}.{name}", fail)
            for name, value in named.items()
        }
    if not isinstance(targets, list):
        raise fail(f"{prefix}targets", f"must be an array of tables ([[{prefix}targets]])")
    own_targets = tuple(
        convert(value, TargetSpec, f"{prefix}targets[{index}]", fail)
        for index, value in enumerate(targets)
    )
    config = PolicyConfig(**parsed, targets=own_targets)  # type: ignore[arg-type]  # each dict holds its kind's Structs
    _check_values(config, _prefixed(fail, prefix))
    layered = base.layered(config) if base is not None else config
    _check_references(layered, config, _prefixed(fail, prefix))
    return layered


def _prefixed(fail: Fail, prefix: str) -> Fail:
    # the checks name targets as `targets[i]`; in mediator.toml they sit under `policies.`
    if not prefix:
        return fail
    return lambda key, reason: fail(prefix + key if key.startswith("targets") else key, reason)


def load_policy_config(path: str | Path, *, with_defaults: bool = True) -> PolicyConfig:
    """Read and validate the policy file at `path`, layered over the shipped defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    base = default_policy_config() if with_defaults else None
    return parse_policy_config(text, file=str(path), base=base)


def default_policy_config() -> PolicyConfig:
    """The shipped defaults for Harvest, Stripe, Salesforce and Tryton (``defaults.toml``)."""
    resource = importlib.resources.files("mediator.policies").joinpath("defaults.toml")
    return parse_policy_config(resource.read_text(encoding="utf-8"), file=str(resource))


def _check_values(config: PolicyConfig, fail: Fail) -> None:
    # what the types cannot say: zones exist, clock times parse, windows make sense
    for name, quota in config.quotas.items():
        key = f"policies.quotas.{name}"
        _check_zone(quota.zone, f"{key}.zone", fail)
        if not quota.stop_at:
            raise fail(f"{key}.stop_at", "needs at least one priority class")
        for priority, share in quota.stop_at.items():
            if not 0 < share <= 1:
                raise fail(f"{key}.stop_at.{priority}", f"must be in (0, 1], not {share!r}")
        if quota.default_priority is not None and quota.default_priority not in quota.stop_at:
            raise fail(f"{key}.default_priority", "is not a priority class of stop_at")
        try:
            DailyPeriod(reset_at=quota.reset_at, zone=quota.zone)
        except ValueError as exc:
            raise fail(f"{key}.reset_at", str(exc)) from exc
    for kind in ("ratelimits", "bulkheads"):
        for name, spec in getattr(config, kind).items():
            _check_shares(spec.shares, f"policies.{kind}.{name}.shares", fail)
    for name, window in config.windows.items():
        key = f"policies.windows.{name}"
        _check_zone(window.zone, f"{key}.zone", fail)
        for index, (start, end) in enumerate(window.blackouts):
            for moment in (start, end):
                try:
                    datetime.datetime.fromisoformat(moment)
                except ValueError as exc:
                    raise fail(f"{key}.blackouts[{index}]", f"{moment!r}: {exc}") from exc
        try:
            window.build(name)
        except ValueError as exc:
            raise fail(key, str(exc)) from exc
    for index, target in enumerate(config.targets):
        if not target.system:
            raise fail(f"targets[{index}].system", "must not be empty")


def _check_shares(shares: dict[str, float], key: str, fail: Fail) -> None:
    for priority, share in shares.items():
        if not priority.strip():
            raise fail(key, "a priority class name must not be empty")
        if not 0 < share <= 1:
            raise fail(f"{key}.{priority}", f"must be in (0, 1], not {share!r}")


def _check_references(layered: PolicyConfig, own: PolicyConfig, fail: Fail) -> None:
    for index, target in enumerate(own.targets):
        for field, kind in _BINDINGS.items():
            name = getattr(target, field)
            if name is not None and name not in getattr(layered, kind):
                raise fail(f"targets[{index}].{field}", f"no {kind} policy named {name!r}")


def _check_zone(zone: str, key: str, fail: Fail) -> None:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise fail(key, f"unknown time zone {zone!r}") from exc

"""Read what a server says about its limits from response headers into one typed `LimitHint`.

Formats understood (the first that is present wins for each figure):

- ``Retry-After``: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
- IETF ``RateLimit`` / ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers): the list form
  of drafts 09+ (``"default";r=50;t=30`` and ``"burst";q=100;w=60``) and the dictionary form of
  drafts 07-08 (``limit=100, remaining=50, reset=30``; policy ``100;w=60``).
- ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (drafts up to 06) and ``X-RateLimit-*``;
  an ``X-RateLimit-Reset`` above 10^9 is an epoch time (GitHub style), otherwise seconds.
- Salesforce ``Sforce-Limit-Info: api-usage=<used>/<allocation>`` (the rolling 24 h allowance).
- Stripe ``Stripe-Should-Retry: true|false``.

A malformed header is ignored with a warning on the ``mediator.policies`` logger; parsing never
raises for bad input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

import msgspec

from mediator.policies._sfv import BareItem, Member, parse_dict, parse_list

__all__ = ["LimitHint", "parse_limit_headers"]

_log = logging.getLogger("mediator.policies")

# Larger than any sane delta in seconds (31 years): such a reset value is an epoch time.
_EPOCH_THRESHOLD = 1_000_000_000
_USAGE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class LimitHint(msgspec.Struct, frozen=True, kw_only=True):
    """What the server's headers said about its limits; `None` where it said nothing.

    Durations are seconds from the moment the response was read. `limit` requests are allowed
    per `window` seconds, `remaining` are left, and more become available in `reset_after`.
    `usage_used`/`usage_max` is a period allowance such as Salesforce's 24 h API usage.
    """

    retry_after: float | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    window: float | None = None
    usage_used: int | None = None
    usage_max: int | None = None
    should_retry: bool | None = None

    @property
    def empty(self) -> bool:
        """Whether the headers carried no limit information at all."""
        return self == _EMPTY


_EMPTY = LimitHint()


def parse_limit_headers(headers: Mapping[str, str], *, now: float) -> LimitHint:
    """Parse the limit headers of one response; `now` is the wall-clock epoch time it arrived.

    Header names are matched case-insensitively. Never raises: a malformed header is logged at
    warning level and ignored.
    """
    fields = {name.lower(): value for name, value in headers.items()}
    found: dict[str, float | int | bool] = {}

    def put(key: str, value: float | int | bool | None) -> None:
        if value is not None and key not in found:
            found[key] = value

    for name, reader in _READERS:
        value = fields.get(name)
        if value is None:
            continue
        try:
            for key, figure in reader(value, now, fields).items():
                put(key, figure)
        except (ValueError, OverflowError, TypeError) as exc:
            _log.warning("ignoring malformed %s header %r: %s", name, value, exc)
    should_retry = found.get("should_retry")
    return LimitHint(
        retry_after=_as_float(found.get("retry_after")),
        limit=_as_int(found.get("limit")),
        remaining=_as_int(found.get("remaining")),
        reset_after=_as_float(found.get("reset_after")),
        window=_as_float(found.get("window")),
        usage_used=_as_int(found.get("usage_used")),
        usage_max=_as_int(found.get("usage_max")),
        should_retry=should_retry if isinstance(should_retry, bool) else None,
    )


Figures = dict[str, float | int | bool | None]
_Reader = Callable[[str, float, Mapping[str, str]], Figures]


def _retry_after(value: str, now: float, _: Mapping[str, str]) -> Figures:
    text = value.strip()
    if text.isdigit():
        return {"retry_after": float(text)}
    when = parsedate_to_datetime(text)  # ValueError/TypeError on garbage
    if when.tzinfo is None:
        raise ValueError("HTTP-date without a zone")
    return {"retry_after": max(when.timestamp() - now, 0.0)}


def _ietf_ratelimit(value: str, _now: float, fields: Mapping[str, str]) -> Figures:
    try:
        as_dict = parse_dict(value)
    except ValueError:
        as_dict = {}
    if "remaining" in as_dict:
        # drafts 07-08: one dictionary with limit, remaining, reset
        return {
            "limit": _count(as_dict.get("limit")),
            "remaining": _count(as_dict.get("remaining")),
            "reset_after": _seconds(as_dict.get("reset")),
        }
    members = parse_list(value)
    if not members:
        raise ValueError("empty list")
    # drafts 09+: one item per policy; the tightest (fewest remaining) governs
    name, params = min(members, key=lambda m: _count((m[1].get("r"), {})) or 0)
    remaining = _count((params.get("r"), {}))
    if remaining is None:
        raise ValueError("item without the required r parameter")
    figures: Figures = {"remaining": remaining, "reset_after": _seconds((params.get("t"), {}))}
    policy = fields.get("ratelimit-policy")
    if policy is not None:
        figures.update(_policy_for(policy, name))
    return figures


def _policy_for(value: str, name: BareItem) -> Figures:
    try:
        members = parse_list(value)
    except ValueError:
        return {}  # the ratelimit-policy reader logs it
    for item, params in members:
        if item == name and "q" in params:
            return {"limit": _count((params["q"], {})), "window": _seconds((params.get("w"), {}))}
    return {}


def _ietf_policy(value: str, _now: float, _: Mapping[str, str]) -> Figures:
    members = parse_list(value)
    if not members:
        raise ValueError("empty list")
    item, params = members[0]
    if isinstance(item, int) and not isinstance(item, bool):
        # drafts 07-08: `100;w=60`
        return {"limit": _count((item, {})), "window": _seconds((params.get("w"), {}))}
    if "q" not in params:
        raise ValueError("policy without the required q parameter")
    return {"limit": _count((params["q"], {})), "window": _seconds((params.get("w"), {}))}


def _legacy(prefix: str) -> list[tuple[str, _Reader]]:
    def limit(value: str, _now: float, _: Mapping[str, str]) -> Figures:
        # drafts up to 06 allow `100, 100;w=60`: the first member is the limit
        members = parse_list(value)
        limit = _count((members[0][0], {}))
        windows = [p["w"] for item, p in members if item == limit and "w" in p]
        return {"limit": limit, "window": _seconds((windows[0], {})) if windows else None}

    def remaining(value: str, _now: float, _: Mapping[str, str]) -> Figures:
        return {"remaining": _strict_int(value)}

    def reset(value: str, now: float, _: Mapping[str, str]) -> Figures:
        seconds = float(value.strip())
        if seconds < 0:
            raise ValueError("negative reset")
        if seconds > _EPOCH_THRESHOLD:
            seconds = max(seconds - now, 0.0)
        return {"reset_after": seconds}

    return [
        (f"{prefix}-limit", limit),
        (f"{prefix}-remaining", remaining),
        (f"{prefix}-reset", reset),
    ]


def _sforce(value: str, _now: float, _: Mapping[str, str]) -> Figures:
    for part in value.split(","):
        key, sep, usage = part.partition("=")
        if sep and key.strip().lower() == "api-usage":
            match = _USAGE.match(usage)
            if match is None:
                raise ValueError("api-usage is not <used>/<max>")
            used, allowed = int(match[1]), int(match[2])
            if allowed == 0:
                raise ValueError("api-usage allocation of 0")
            return {"usage_used": used, "usage_max": allowed}
    raise ValueError("no api-usage entry")


def _should_retry(value: str, _now: float, _: Mapping[str, str]) -> Figures:
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise ValueError("expected true or false")
    return {"should_retry": text == "true"}


_READERS: list[tuple[str, _Reader]] = [
    ("retry-after", _retry_after),
    ("ratelimit", _ietf_ratelimit),
    ("ratelimit-policy", _ietf_policy),
    *_legacy("ratelimit"),
    *_legacy("x-ratelimit"),
    ("sforce-limit-info", _sforce),
    ("stripe-should-retry", _should_retry),
]


def _count(member: Member | tuple[BareItem | None, object] | None) -> int | None:
    if member is None or member[0] is None:
        return None
    item = member[0]
    if isinstance(item, bool) or not isinstance(item, int) or item < 0:
        raise ValueError(f"expected a non-negative integer, got {item!r}")
    return item


def _seconds(member: Member | tuple[BareItem | None, object] | None) -> float | None:
    if member is None or member[0] is None:
        return None
    item = member[0]
    if isinstance(item, bool) or not isinstance(item, int | float) or item < 0:
        raise ValueError(f"expected non-negative seconds, got {item!r}")
    return float(item)


def _strict_int(value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise ValueError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _as_int(value: float | int | bool | None) -> int | None:
    return None if value is None else int(value)


def _as_float(value: float | int | bool | None) -> float | None:
    return None if value is None else float(value)

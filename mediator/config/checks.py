"""What the types of `mediator.toml` cannot say, checked offline: every problem, not the first.

URLs are http(s) with a host and carry no credentials (a token in a URL ends up in logs);
listen addresses are ``host:port``; time zones exist; a poller runs on an interval or a cron
schedule (parsed by cronsim in the firm's time zone), not both; admin tokens have distinct
names and references; an admin API listening beyond loopback needs tokens; a webhook
listener has at least one signing secret; a journal dsn is postgresql:// and carries no
password.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import urllib.parse
import zoneinfo

from cronsim import CronSim, CronSimError

from mediator.config.model import MediatorConfig
from mediator.errors import ConfigError
from mediator.tomlfile import Fail

__all__ = ["check_values", "next_run", "parse_listen"]

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def check_values(config: MediatorConfig, fail: Fail) -> list[ConfigError]:
    """Every problem of `config` found without the network, in the order of the file's keys."""
    problems: list[ConfigError] = []
    zone = _check_zone(config.time_zone, "time_zone", fail, problems)
    for name in ("salesforce", "harvest", "stripe", "tryton"):
        system = getattr(config.systems, name)
        if system is None:
            continue
        key = f"systems.{name}"
        _check_url(system.base_url, f"{key}.base_url", fail, problems)
        if system.time_zone is not None:
            _check_zone(system.time_zone, f"{key}.time_zone", fail, problems)
    for name, poller in config.ingress.pollers.items():
        key = f"ingress.pollers.{name}"
        if (poller.interval is None) == (poller.schedule is None):
            problems.append(fail(key, "give either interval (seconds) or schedule (cron)"))
        elif poller.schedule is not None and zone is not None:
            try:
                next_run(poller.schedule, datetime.datetime.now(zone))
            except ValueError as exc:
                problems.append(fail(f"{key}.schedule", str(exc)))
    if config.journal.dsn is not None:
        _check_dsn(config.journal.dsn, "journal.dsn", fail, problems)
    cluster = config.cluster
    if cluster is not None:
        if config.journal.dsn is None:
            problems.append(
                fail("cluster", "needs [journal] dsn: daemons share a PostgreSQL journal")
            )
        if cluster.renew_every * 2 > cluster.lease_ttl:
            problems.append(
                fail(
                    "cluster.renew_every",
                    "at most half of lease_ttl: a late renew must not lose the lease",
                )
            )
    webhooks = config.ingress.webhooks
    if webhooks is not None:
        _check_listen(webhooks.listen, "ingress.webhooks.listen", fail, problems)
        if not webhooks.stripe_secrets:  # a listener that can verify nothing refuses everything
            problems.append(
                fail("ingress.webhooks", "needs stripe_secrets: the secrets that sign the events")
            )
        elif len(set(webhooks.stripe_secrets)) < len(webhooks.stripe_secrets):
            problems.append(
                fail("ingress.webhooks.stripe_secrets", "the same secret is given twice")
            )
    if config.telemetry.otlp_endpoint is not None:
        _check_url(config.telemetry.otlp_endpoint, "telemetry.otlp_endpoint", fail, problems)
    admin = config.admin
    host = _check_listen(admin.listen, "admin.listen", fail, problems)
    if host is not None and not admin.tokens and not _is_loopback(host):
        problems.append(fail("admin.listen", "an admin API beyond loopback needs [[admin.tokens]]"))
    seen_names: set[str] = set()
    seen_refs: set[str] = set()
    for index, token in enumerate(admin.tokens):
        if token.name in seen_names:
            problems.append(fail(f"admin.tokens[{index}].name", f"{token.name!r} is used twice"))
        if token.token in seen_refs:
            problems.append(fail(f"admin.tokens[{index}].token", "the same secret is used twice"))
        seen_names.add(token.name)
        seen_refs.add(token.token)
    return problems


def next_run(schedule: str, after: datetime.datetime) -> datetime.datetime:
    """The first time the cron `schedule` fires after `after` (an aware datetime, in the zone
    the schedule is read in); raises `ValueError` naming what is wrong with the expression."""
    try:
        return next(CronSim(schedule, after))
    except CronSimError as exc:
        raise ValueError(f"not a cron expression: {schedule!r} ({exc})") from exc
    except StopIteration:
        raise ValueError(f"cron expression {schedule!r} never fires") from None


def parse_listen(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:8080`` for IPv6); raise `ValueError` saying what is wrong."""
    host, colon, port_text = address.rpartition(":")
    if not colon or not host:
        raise ValueError(f"{address!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not a number from 0 to 65535")
    if not _is_host(host):
        raise ValueError(f"{host!r} is not an IP address or a host name")
    return host, int(port_text)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        # a name, not a malformed address: labels of letters, digits and hyphens
        return not host.replace(".", "").isdigit() and bool(_HOST_NAME.match(host))


def _check_zone(
    name: str, key: str, fail: Fail, problems: list[ConfigError]
) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            fail(key, f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)")
        )
        return None


def _check_url(url: str, key: str, fail: Fail, problems: list[ConfigError]) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError as exc:
        problems.append(fail(key, f"not a URL: {exc}"))
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(fail(key, "must be an http:// or https:// URL with a host"))
    elif parts.username is not None or parts.password is not None:
        problems.append(fail(key, "must not carry credentials; use the secret keys instead"))
    elif parts.query or parts.fragment:
        problems.append(fail(key, "must not have a query or a fragment"))


def _check_dsn(dsn: str, key: str, fail: Fail, problems: list[ConfigError]) -> None:
    try:
        parts = urllib.parse.urlsplit(dsn)
        parts.port  # noqa: B018  (raises on a port that is no number)
    except ValueError as exc:
        problems.append(fail(key, f"not a dsn: {exc}"))
        return
    if parts.scheme not in ("postgresql", "postgres"):
        problems.append(fail(key, "must be a postgresql:// (or postgres://) URL"))
    elif parts.password is not None or "password=" in parts.query.lower():
        problems.append(
            fail(key, "must not carry a password; give journal.password (env: or file:)")
        )


def _check_listen(address: str, key: str, fail: Fail, problems: list[ConfigError]) -> str | None:
    try:
        host, _ = parse_listen(address)
    except ValueError as exc:
        problems.append(fail(key, str(exc)))
        return None
    return host


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

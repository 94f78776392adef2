"""Reading `mediator.toml`: parse, convert to the model, check, and resolve secrets.

`load_config(path)` returns a `LoadedConfig` or raises the first `ConfigError` (file, key
path, line); `check_config(path)` is what `mediator check-config` runs: it reports every
problem it can find without touching the network, secret references included. Secrets are
resolved into `Secret` objects only by `resolve_secrets`, whose values are never part of an
error message, a repr or the rendered configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from mediator.config.checks import check_values
from mediator.config.model import FlowConfig, MediatorConfig, PollerConfig
from mediator.errors import ConfigError
from mediator.policies import PolicyConfig, default_policy_config
from mediator.policies.config import policy_config_from
from mediator.systems import Secret, load_secret
from mediator.tomlfile import Fail, convert, failing, parse_toml

__all__ = ["LoadedConfig", "check_config", "load_config", "parse_config", "resolve_secrets"]

_SECRET_PATTERN = "matching regex '^(env:"


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A validated configuration, the file it came from, and its layered policies."""

    file: str
    config: MediatorConfig
    policies: PolicyConfig
    #: the journal's file, relative paths taken from the config file's folder
    journal_path: Path
    text: str

    @property
    def journal_where(self) -> str:
        """The journal as logs name it: the SQLite file, or the dsn (never with a password:
        see checks) and schema."""
        journal = self.config.journal
        if journal.dsn is None:
            return str(self.journal_path)
        return f"{journal.dsn} schema {journal.schema}"

    def secret_refs(self) -> dict[str, str]:
        """Every secret reference by key path (``systems.harvest.token``)."""
        refs: dict[str, str] = {}
        systems = self.config.systems
        for name, field in (
            ("salesforce", "client_secret"),
            ("harvest", "token"),
            ("stripe", "api_key"),
            ("tryton", "password"),
        ):
            section = getattr(systems, name)
            if section is not None:
                refs[f"systems.{name}.{field}"] = getattr(section, field)
        webhooks = self.config.ingress.webhooks
        if webhooks is not None:
            for index, ref in enumerate(webhooks.stripe_secrets):
                refs[f"ingress.webhooks.stripe_secrets[{index}]"] = ref
        for index, token in enumerate(self.config.admin.tokens):
            refs[f"admin.tokens[{index}].token"] = token.token
        if self.config.journal.password is not None:
            refs["journal.password"] = self.config.journal.password
        return refs


def parse_config(text: str, *, file: str, base_dir: Path | None = None) -> LoadedConfig:
    """Validate `text` (the contents of `file`); raise the first `ConfigError` found."""
    loaded, problems = _parse(text, file=file, base_dir=base_dir)
    if problems:
        raise problems[0]
    assert loaded is not None
    return loaded


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate the configuration file at `path` (secrets are not resolved yet)."""
    text, file = _read(Path(path))
    return parse_config(text, file=file, base_dir=Path(path).parent)


def check_config(path: str | Path) -> tuple[LoadedConfig | None, list[ConfigError]]:
    """Every problem of the file at `path` that can be found offline, secrets resolved too.

    Returns the configuration (None when it does not even parse) and the problems in file
    order; an empty list means `mediator run` would start with it.
    """
    try:
        text, file = _read(Path(path))
    except ConfigError as exc:
        return None, [exc]
    loaded, problems = _parse(text, file=file, base_dir=Path(path).parent)
    if loaded is not None:
        problems.extend(_unresolved(loaded))
    problems.sort(key=lambda p: (p.line is None, p.line or 0))
    return loaded, problems


def resolve_secrets(loaded: LoadedConfig) -> dict[str, Secret]:
    """Read every secret the configuration references, by key path; raise `ConfigError`."""
    fail = failing(loaded.text, file=loaded.file)
    secrets: dict[str, Secret] = {}
    for key, ref in loaded.secret_refs().items():
        try:
            secrets[key] = load_secret(ref, file=loaded.file, key=key)
        except ConfigError as exc:
            raise fail(key, exc.reason) from None
    return secrets


def _unresolved(loaded: LoadedConfig) -> list[ConfigError]:
    fail = failing(loaded.text, file=loaded.file)
    problems = []
    for key, ref in loaded.secret_refs().items():
        try:
            load_secret(ref, file=loaded.file, key=key)
        except ConfigError as exc:
            problems.append(fail(key, exc.reason))
    return problems


_MAX_FILE = 1024 * 1024  # a configuration is kilobytes; a megabyte is a mistake, not a config


def _read(path: Path) -> tuple[str, str]:
    try:
        if path.exists() and not path.is_file():
            raise ConfigError(str(path), "", "not a regular file")
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE + 1)
        if len(data) > _MAX_FILE:
            raise ConfigError(str(path), "", f"larger than {_MAX_FILE} bytes: not a config file")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a byte-order mark, as some editors write: not part of the TOML
        return data.decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc


def _parse(
    text: str, *, file: str, base_dir: Path | None
) -> tuple[LoadedConfig | None, list[ConfigError]]:
    try:
        data = parse_toml(text, file=file)
    except ConfigError as exc:
        return None, [exc]
    fail = _secret_aware(failing(text, file=file))
    try:
        _check_named_tables(data, fail)
        config: MediatorConfig = convert(data, MediatorConfig, "", fail)
        policies_table = dict(config.policies)
        targets = policies_table.pop("targets", [])
        policies = policy_config_from(
            policies_table, targets, fail=fail, base=default_policy_config(), prefix="policies."
        )
    except ConfigError as exc:
        return None, [exc]
    journal_path = Path(config.journal.path)
    if not journal_path.is_absolute() and base_dir is not None:
        journal_path = base_dir / journal_path
    loaded = LoadedConfig(
        file=file, config=config, policies=policies, journal_path=journal_path, text=text
    )
    return loaded, check_values(config, fail)


def _secret_aware(fail: Fail) -> Fail:
    # msgspec names the secret pattern, never the value; say what to write instead
    def secret_fail(key: str, reason: str) -> ConfigError:
        if _SECRET_PATTERN in reason:
            reason = "a secret is given as env:NAME or file:/path, never inline"
        return fail(key, reason)

    return secret_fail


def _check_named_tables(data: dict[str, Any], fail: Fail) -> None:
    # msgspec reports a bad value inside a table of named tables as `flows[...]`, without the
    # name; converting each named table on its own names it (`flows.approved_time.enabled`)
    named: tuple[tuple[tuple[str, ...], type], ...] = (
        (("flows",), FlowConfig),
        (("ingress", "pollers"), PollerConfig),
    )
    for path, kind in named:
        table: object = data
        for part in path:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict):
            for name, value in table.items():
                convert(value, kind, ".".join((*path, name)), fail)

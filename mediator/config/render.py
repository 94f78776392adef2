"""The effective configuration as TOML: what `mediator check-config` prints.

Defaults are filled in, the journal's path is made absolute and the shipped policies are
layered under the file's own, so an operator sees what the daemon will really run with.
Secrets appear only as their references (``env:NAME``, ``file:/path``): the model holds no
secret values, so there is nothing to leak here.
"""

from __future__ import annotations

from typing import Any

import msgspec
import tomli_w

from mediator.config.load import LoadedConfig

__all__ = ["render_effective"]


def render_effective(loaded: LoadedConfig) -> str:
    """The whole effective configuration of `loaded`, as TOML text with a header comment."""
    data: dict[str, Any] = msgspec.to_builtins(loaded.config)
    data["journal"]["path"] = str(loaded.journal_path.absolute())
    policies: dict[str, Any] = msgspec.to_builtins(loaded.policies)
    targets = policies.pop("targets", [])
    data["policies"] = {kind: named for kind, named in policies.items() if named}
    data["policies"]["targets"] = targets
    header = (
        f"# The effective configuration of {loaded.file}: defaults filled in, shipped\n"
        "# policies layered under the file's own. Secrets are shown as their references;\n"
        "# their values are read when the daemon starts and never printed.\n"
    )
    return header + tomli_w.dumps(_without_none(data))


def _without_none(value: Any) -> Any:
    # TOML has no null: a key left unset is simply absent; sets and tuples are arrays
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [_without_none(v) for v in value]
    return value

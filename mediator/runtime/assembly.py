"""Assembling the enabled flows from the configuration, and the checks only they can make.

Both `Mediator` (before anything opens) and `mediator check-config` (offline) build the flows
the file enables: an unknown flow, a bad option, a system a flow needs and the file does not
configure, or a poller no enabled flow has are each a `ConfigError` with its key and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mediator.config import LoadedConfig
from mediator.errors import ConfigError
from mediator.reconciliation.scheduled import POLLER as RECONCILIATION
from mediator.runtime.catalog import SHIPPED_FLOWS, FlowFactory
from mediator.runtime.flow import Flow
from mediator.tomlfile import Fail, failing

__all__ = ["build_flows", "check_flows", "check_pollers"]


def build_flows(
    loaded: LoadedConfig, factories: Mapping[str, FlowFactory], fail: Fail
) -> list[Flow]:
    """The enabled flows of `loaded`, built by `factories`; raises the first `ConfigError`
    (an unknown flow, a bad option, a system the flow needs and the file does not configure).
    """
    config = loaded.config
    flows: list[Flow] = []
    for name, flow_config in config.flows.items():
        factory = factories.get(name)
        if factory is None:
            known = ", ".join(sorted(factories)) or "none"
            raise fail(f"flows.{name}", f"no such flow (known: {known})")
        if not flow_config.enabled:
            continue
        flow = factory(flow_config.options, _under(fail, f"flows.{name}.options"))
        missing = sorted(s for s in flow.systems if getattr(config.systems, s) is None)
        if missing:
            raise fail(f"flows.{name}", f"needs [systems.{missing[0]}] to be configured")
        flows.append(flow)
    return flows


def check_flows(
    loaded: LoadedConfig, factories: Mapping[str, FlowFactory] = SHIPPED_FLOWS
) -> list[ConfigError]:
    """What `mediator check-config` adds to the file's own checks: the flows' options, the
    systems they need and the pollers they have (offline: nothing is opened)."""
    fail = failing(loaded.text, file=loaded.file)
    try:
        flows = build_flows(loaded, factories, fail)
        check_pollers(flows, loaded.config.ingress.pollers.keys(), fail)
    except ConfigError as problem:
        return [problem]
    return []


def check_pollers(flows: list[Flow], configured: Iterable[str], fail: Fail) -> None:
    """Raise the `ConfigError` of the first `[ingress.pollers.<name>]` no enabled flow has
    (the scheduled reconciliation's, ``reconciliation``, is the runtime's own)."""
    offered = {name for flow in flows for name in flow.poller_names} | {RECONCILIATION}
    for name in configured:
        if name not in offered:
            known = ", ".join(sorted(offered)) or "none (no enabled flow polls)"
            raise fail(f"ingress.pollers.{name}", f"no enabled flow has this poller: {known}")


def _under(fail: Fail, prefix: str) -> Fail:
    # a flow names its options' keys from its own table; the file names them in full
    def fail_under(key: str, reason: str) -> ConfigError:
        return fail(f"{prefix}.{key}" if key else prefix, reason)

    return fail_under

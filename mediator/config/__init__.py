"""The daemon's configuration file, `mediator.toml`: model, loading, checks and rendering.

One TOML file: ``time_zone``, ``[journal]``, ``[systems.<name>]``, ``[flows.<name>]``,
``[ingress]``, ``[admin]``, ``[logging]`` and ``[policies]`` (layered over the shipped
defaults). Every error names the file, the key path and the line; secrets are references
(``env:NAME``, ``file:/path``) resolved at start and never shown. `examples/mediator.toml`
is a commented starting point.
"""

from mediator.config.checks import next_run, parse_listen
from mediator.config.load import (
    LoadedConfig,
    check_config,
    load_config,
    parse_config,
    resolve_secrets,
)
from mediator.config.model import (
    AdminConfig,
    AdminToken,
    ClusterConfig,
    FlowConfig,
    HarvestConfig,
    IngressConfig,
    JournalConfig,
    LoggingConfig,
    MediatorConfig,
    PollerConfig,
    SalesforceConfig,
    StripeConfig,
    SystemsConfig,
    TelemetryConfig,
    TrytonConfig,
    TrytonErpConfig,
    WebhookConfig,
)
from mediator.config.render import render_effective

__all__ = [
    "AdminConfig",
    "AdminToken",
    "ClusterConfig",
    "FlowConfig",
    "HarvestConfig",
    "IngressConfig",
    "JournalConfig",
    "LoadedConfig",
    "LoggingConfig",
    "MediatorConfig",
    "PollerConfig",
    "SalesforceConfig",
    "StripeConfig",
    "SystemsConfig",
    "TelemetryConfig",
    "TrytonConfig",
    "TrytonErpConfig",
    "WebhookConfig",
    "check_config",
    "load_config",
    "next_run",
    "parse_config",
    "parse_listen",
    "render_effective",
    "resolve_secrets",
]

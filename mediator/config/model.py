"""The shape of `mediator.toml`: one frozen Struct per section, unknown keys refused.

Secrets are not values here but references (``env:NAME`` or ``file:/path``, see
`SecretRef`), resolved when the daemon starts, so the parsed configuration can be printed,
logged and served as it is. Durations are float seconds, addresses ``host:port``, schedules
cron expressions read in the firm's `time_zone`. Every table refuses unknown keys: a misspelt
key is an error, not a silently ignored default. What the types cannot say (URLs, zones,
schedules, ports, references that resolve) is checked by `mediator.config.checks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "AdminConfig",
    "AdminToken",
    "ClusterConfig",
    "FlowConfig",
    "HarvestConfig",
    "IngressConfig",
    "JournalConfig",
    "LoggingConfig",
    "MediatorConfig",
    "PollerConfig",
    "ReconciliationConfig",
    "SalesforceConfig",
    "SecretRef",
    "StripeConfig",
    "SystemsConfig",
    "TelemetryConfig",
    "TrytonConfig",
    "TrytonErpConfig",
    "WebhookConfig",
]

SecretRef = Annotated[str, msgspec.Meta(pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")]
"""Where a secret is read at start: ``env:NAME`` or ``file:/path`` (never the value itself)."""

Seconds = Annotated[float, msgspec.Meta(gt=0, le=7 * 24 * 3600)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
RecordId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class JournalConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[journal]`: the SQLite file (relative to the config file's folder), the embedded
    default; or, with `dsn`, a PostgreSQL database shared by several daemons.

    With `dsn` set, `path` and `synchronous` are not used: the journal lives in the schema
    `schema` of that database (created on first start). The dsn carries no password (it is
    printed and logged): give `password` as a secret reference, or use PGPASSWORD or a
    ~/.pgpass file as libpq does.
    """

    path: Name = "mediator.db"
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    drain_timeout: Seconds = 30.0
    dsn: str | None = None
    schema: Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "mediator"
    password: SecretRef | None = None


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[cluster]`: this daemon is one of several on the `[journal] dsn` database (present:
    on; it needs the dsn). They share the entity space by partition leases (see
    `mediator.cluster`): a daemon's partitions are taken over `lease_ttl` (at most plus
    `renew_every`) after it stops renewing them, so a daemon that dies is replaced in about
    8 s by default. `daemon_id` names it in the lease table (default: host name and pid)."""

    daemon_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:@-]{1,100}$")] | None = None
    lease_ttl: Annotated[float, msgspec.Meta(ge=1, le=600)] = 6.0
    renew_every: Annotated[float, msgspec.Meta(ge=0.1, le=300)] = 2.0
    #: how often the intake reads others' appends when no NOTIFY woke it
    intake_interval: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5


class SalesforceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.salesforce]`: the org's My Domain URL and a connected app's credentials."""

    base_url: str
    client_id: Name
    client_secret: SecretRef
    api_version: Annotated[str, msgspec.Meta(pattern=r"^\d{2,3}\.0$")] = "61.0"
    time_zone: str | None = None
    #: the org has multi-currency on: records carry ``CurrencyIsoCode`` (read and honoured);
    #: off, every amount is in the org's corporate currency (the flows' ``org_currency``)
    multi_currency: bool = False


class HarvestConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.harvest]`: the account, a personal access token and who is calling."""

    base_url: str = "https://api.harvestapp.com"
    account_id: Annotated[str, msgspec.Meta(pattern=r"^\d{1,18}$")]
    token: SecretRef
    user_agent: Name
    time_zone: str | None = None


class StripeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.stripe]`: a restricted or secret API key."""

    base_url: str = "https://api.stripe.com"
    api_key: SecretRef
    time_zone: str | None = None


class TrytonErpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.tryton.erp]`: the ids of this database's company and accounting records
    that every create needs (what the Tryton client fills in from the user's preferences)."""

    company: RecordId
    currency: RecordId
    journal: RecordId
    receivable_account: RecordId
    revenue_account: RecordId
    payment_term: RecordId
    product: RecordId
    unit: RecordId


class TrytonConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.tryton]`: the server, its database, a user of it, and its company's ids."""

    base_url: str
    database: Name
    login: Name
    password: SecretRef
    erp: TrytonErpConfig
    time_zone: str | None = None


class SystemsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[systems.*]`: the external systems this daemon talks to (each optional)."""

    salesforce: SalesforceConfig | None = None
    harvest: HarvestConfig | None = None
    stripe: StripeConfig | None = None
    tryton: TrytonConfig | None = None


class FlowConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.<name>]`: whether the flow runs, and its own options (the flow checks them)."""

    enabled: bool = True
    options: dict[str, Any] = {}


class PollerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[ingress.pollers.<name>]`: every `interval` seconds, or on a cron `schedule`."""

    interval: Seconds | None = None
    schedule: str | None = None
    enabled: bool = True


class WebhookConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[ingress.webhooks]`: the listener vendors post to, and the secrets that sign them."""

    listen: str = "127.0.0.1:8081"
    stripe_secrets: list[SecretRef] = []
    tolerance: Seconds = 300.0
    max_body: Annotated[int, msgspec.Meta(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024


class IngressConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[ingress]`: pollers by name and the webhook listener."""

    pollers: dict[str, PollerConfig] = {}
    webhooks: WebhookConfig | None = None


class AdminToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[[admin.tokens]]`: a bearer token and what it may do (`viewer` reads, `operator` acts)."""

    name: Name
    role: Literal["viewer", "operator"]
    token: SecretRef


class AdminConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[admin]`: the admin API and dashboard listener and its tokens."""

    listen: str = "127.0.0.1:8080"
    tokens: list[AdminToken] = []
    request_timeout: Seconds = 30.0
    max_body: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 1024 * 1024
    #: who may read `/metrics`: ``token`` (any admin token, as for `/flows`) or ``none`` (a
    #: scraper without credentials: counts and names of flows and systems, nothing else)
    metrics_auth: Literal["token", "none"] = "token"


class TelemetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[telemetry]`: OTLP export of traces and metrics over HTTP (needs the `otlp` extra).

    `otlp_endpoint` is the collector's base URL (``http://127.0.0.1:4318``); traces go to
    its ``/v1/traces`` and metrics, every `export_interval` seconds, to ``/v1/metrics``.
    Without it nothing is exported (`/metrics` still answers)."""

    otlp_endpoint: str | None = None
    service_name: Name = "mediator"
    export_interval: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 15.0
    traces: bool = True
    #: the share of traces recorded, decided where a trace starts (a poll, a webhook) and
    #: followed by every span of it: each recorded delivery costs a few spans of CPU
    trace_sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    metrics: bool = True


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[logging]`: level and format (`auto` is human lines on a terminal, JSON otherwise)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "human", "json"] = "auto"


Amount = Annotated[str, msgspec.Meta(pattern=r"^\d{1,9}(\.\d{1,4})?$")]


class ReconciliationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[reconciliation]`: how runs judge (see `mediator.reconciliation.Options`).

    `lag`: a source change younger than this is in flight, not a break; `tolerance`: the
    largest amount difference that still matches, by currency (``USD = "0.05"``), and
    `default_tolerance` for the others. Scheduled runs are the poller ``reconciliation``
    (`[ingress.pollers.reconciliation]`, off unless configured), each reconciling the
    previous and the current month.
    """

    lag: Seconds = 900.0
    tolerance: dict[Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")], Amount] = {}
    default_tolerance: Amount = "0.05"


class MediatorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole of `mediator.toml`, validated; `policies` is layered over the defaults."""

    time_zone: str = "UTC"
    journal: JournalConfig = JournalConfig()
    cluster: ClusterConfig | None = None
    systems: SystemsConfig = SystemsConfig()
    flows: dict[str, FlowConfig] = {}
    ingress: IngressConfig = IngressConfig()
    admin: AdminConfig = AdminConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    logging: LoggingConfig = LoggingConfig()
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    #: `[policies.<kind>.<name>]` and `[[policies.targets]]`, as in a policies file.
    policies: dict[str, Any] = {}

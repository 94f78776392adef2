"""Resilience policies: rate limits, quotas, breakers, retries, timeouts, bulkheads, windows.

Pure, clock-injected decision objects (`mediator.clock.Clock`); only waiting is async
(`await limiter.acquire()`, `await bulkhead.acquire()`, `await quota.wait_available()`).
Named policies come from TOML (`load_policy_config`), and a `PolicyRegistry` owned by the
`Mediator` hands each connector call its shared `PolicySet`; in a cluster, its rate limits and
quotas draw on `SharedBudgets` every daemon shares (`shared_budget`).
"""

from mediator.policies.breaker import BreakerState, BreakerStatistics, CircuitBreaker
from mediator.policies.bulkhead import Bulkhead, BulkheadStatistics
from mediator.policies.classify import Classification, Classifier, ErrorCodes, Verdict
from mediator.policies.config import (
    PolicyConfig,
    default_policy_config,
    load_policy_config,
    parse_policy_config,
)
from mediator.policies.headers import LimitHint, parse_limit_headers
from mediator.policies.periods import DailyPeriod, RollingPeriod
from mediator.policies.quota import QuotaBudget, QuotaSnapshot, QuotaStatistics
from mediator.policies.ratelimit import DEFAULT_CLASS, RateLimiter, RateLimiterStatistics
from mediator.policies.registry import PolicyRegistry, PolicySet, PolicyStatistics
from mediator.policies.retry import RetryDecision, RetrySchedule
from mediator.policies.shared_budget import (
    BucketStore,
    Grant,
    QuotaSpend,
    SharedBucket,
    SharedBucketStatistics,
    SharedBudgets,
    SharedQuota,
    open_shared_budgets,
)
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
from mediator.policies.window import ApprovalRule, ApprovalRules, PostingWindow

__all__ = [
    "DEFAULT_CLASS",
    "ApprovalRule",
    "ApprovalRules",
    "BreakerSpec",
    "BreakerState",
    "BreakerStatistics",
    "BucketStore",
    "Bulkhead",
    "BulkheadSpec",
    "BulkheadStatistics",
    "CircuitBreaker",
    "Classification",
    "Classifier",
    "DailyPeriod",
    "ErrorCodes",
    "Grant",
    "LimitHint",
    "PolicyConfig",
    "PolicyRegistry",
    "PolicySet",
    "PolicyStatistics",
    "PostingWindow",
    "QuotaBudget",
    "QuotaSnapshot",
    "QuotaSpec",
    "QuotaSpend",
    "QuotaStatistics",
    "RateLimitSpec",
    "RateLimiter",
    "RateLimiterStatistics",
    "RetryDecision",
    "RetrySchedule",
    "RetrySpec",
    "RollingPeriod",
    "SharedBucket",
    "SharedBucketStatistics",
    "SharedBudgets",
    "SharedQuota",
    "TargetSpec",
    "Timeouts",
    "Verdict",
    "WindowSpec",
    "default_policy_config",
    "load_policy_config",
    "open_shared_budgets",
    "parse_limit_headers",
    "parse_policy_config",
]

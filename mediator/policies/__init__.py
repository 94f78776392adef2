"""Rate limits, quota budgets, circuit breakers, retries, timeouts, bulkheads, posting windows: pure and clock-injected."""

__all__: list[str] = []

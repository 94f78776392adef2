"""The durable log: append with group commit, idempotency, retries, dead letters, replay, xref map, watermarks."""

__all__: list[str] = []

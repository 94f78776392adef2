"""The cross-system business workflows, as small state machines keyed by entity."""

__all__: list[str] = []

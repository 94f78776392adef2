"""Canonical business entities and each external system's wire mapping."""

__all__: list[str] = []

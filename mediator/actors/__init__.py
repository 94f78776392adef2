"""Actors, refs, bounded mailboxes, supervisors and the entity registry."""

__all__: list[str] = []

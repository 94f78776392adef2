"""How the Harvest sandbox refuses a request: an HTTP status and Harvest's message."""

from __future__ import annotations

__all__ = ["HarvestError"]


class HarvestError(Exception):
    """A refused request: HTTP `status` and Harvest's `{"message": ...}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

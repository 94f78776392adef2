"""Routing a journaled entry to the flow that handles its kind, then to that flow's entity.

The dispatcher orders and parks by entity key and asks one recipient per key; several flows
may act on the same key (a project's time goes to the ERP and to billing), so the recipient
of a key looks at each entry's kind and forwards it to the entity actor of the flow that
handles that kind. An entry of a kind no enabled flow handles is a business rejection (a
dead letter saying so), never a silent drop: re-enable the flow and replay it. Each
forwarded delivery is counted for its flow (see throughput.py) when a counter is given.
"""

from __future__ import annotations

from collections.abc import Mapping

from mediator.actors import EntityRegistry
from mediator.codecs import Envelope
from mediator.errors import NoFlowForKind
from mediator.runtime.throughput import ThroughputCounter

__all__ = ["KindRouter", "NoFlowForKind"]


class KindRouter:
    """The dispatcher's `route`: one recipient per key that forwards by kind."""

    def __init__(
        self,
        registries: Mapping[str, EntityRegistry[Envelope]],
        *,
        counters: Mapping[str, ThroughputCounter] | None = None,
    ) -> None:
        #: the entity registry of the flow that handles each kind
        self.registries = dict(registries)
        #: the delivery counter of the flow that handles each kind
        self.counters = dict(counters or {})

    def route(self, key: str) -> _KeyRecipient:
        """The recipient of entity `key` (cheap: made per delivery)."""
        return _KeyRecipient(self, key)


class _KeyRecipient:
    __slots__ = ("_key", "_router")

    def __init__(self, router: KindRouter, key: str) -> None:
        self._router = router
        self._key = key

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        registry = self._router.registries.get(message.kind)
        if registry is None:
            raise NoFlowForKind(message.kind)
        counter = self._router.counters.get(message.kind)
        if counter is None:
            return await registry.ask(self._key, message, timeout=timeout)
        try:
            reply = await registry.ask(self._key, message, timeout=timeout)
        except Exception:
            counter.record(ok=False)
            raise
        counter.record(ok=True)
        return reply

"""What became of each kind's entries: the dispatcher's counters for `/metrics` and OTLP.

The dispatcher calls these once or twice per delivery, so they are plain integers in a
slotted object per kind and a `LatencyHistogram` (about 1 µs a delivery in all, against
hundreds of µs of CPU the delivery itself costs on the journal's path: bench/admin_reads.py).
Nothing is computed until `outcomes()` is asked for, when a scrape or an export reads them.
Retries and dead letters are counted by the system whose failure caused them (``""`` when
none did: a rejection by the flow, a suspected poison message).
"""

from __future__ import annotations

import msgspec

from mediator.histogram import DELIVERY_BUCKETS, HistogramSnapshot, LatencyHistogram

__all__ = ["DeliveryCounts", "KindOutcomes"]


class KindOutcomes(msgspec.Struct, frozen=True, kw_only=True):
    """What became of the entries of one kind since the dispatcher opened: `accepted` newly
    journaled through it, `delivered`, `retried` and `dead` by the system that failed (``""``
    when no system did), and the time from acceptance to done of the delivered ones."""

    kind: str
    accepted: int
    delivered: int
    retried: dict[str, int]
    dead: dict[str, int]
    latency: HistogramSnapshot


class _Kind:
    __slots__ = ("accepted", "dead", "delivered", "latency", "retried")

    def __init__(self) -> None:
        self.accepted = 0
        self.delivered = 0
        self.retried: dict[str, int] = {}
        self.dead: dict[str, int] = {}
        self.latency = LatencyHistogram(DELIVERY_BUCKETS)


class DeliveryCounts:
    """Counters per journal kind; one event loop writes them, so nothing locks."""

    __slots__ = ("_kinds",)

    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}

    def accepted(self, kind: str) -> None:
        """Count one entry newly journaled."""
        self._kind(kind).accepted += 1

    def delivered(self, kind: str, latency: float) -> None:
        """Count one entry done, `latency` seconds after it was accepted."""
        counts = self._kind(kind)
        counts.delivered += 1
        counts.latency.observe(latency)

    def retried(self, kind: str, system: str | None) -> None:
        """Count one failed delivery that will be tried again."""
        _add(self._kind(kind).retried, system or "")

    def dead(self, kind: str, system: str | None) -> None:
        """Count one entry dead-lettered."""
        _add(self._kind(kind).dead, system or "")

    def outcomes(self) -> list[KindOutcomes]:
        """The counts of every kind seen, by kind."""
        return [
            KindOutcomes(
                kind=kind,
                accepted=c.accepted,
                delivered=c.delivered,
                retried=dict(c.retried),
                dead=dict(c.dead),
                latency=c.latency.snapshot(),
            )
            for kind, c in sorted(self._kinds.items())
        ]

    def _kind(self, kind: str) -> _Kind:
        counts = self._kinds.get(kind)
        if counts is None:
            counts = self._kinds[kind] = _Kind()
        return counts


def _add(counts: dict[str, int], system: str) -> None:
    counts[system] = counts.get(system, 0) + 1

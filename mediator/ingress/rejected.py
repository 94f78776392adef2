"""A record a poller could not take: journaled as a dead letter with the reason, never dropped.

Every poller meets records that do not decode (``"hours": "NaN"``) or whose mapping fails
(a bug of ours included). One such record must never stop the poll, nor be lost: it becomes
a `Rejected` (its JSON, its identity, and why) and is journaled dead at once, in one
transaction (`Rejected.dead_letter`), under an idempotency key made of its id and version, so
reading it again in the next poll is a duplicate, not a second dead letter. Without an id,
only the record's own bytes tell it apart from another such record: its digest is its version.
"""

from __future__ import annotations

import datetime
import hashlib
import logging

import msgspec

from mediator.codecs import Envelope, new_id
from mediator.codecs.records import Undecodable
from mediator.errors import DecodeError
from mediator.journal import Journal

__all__ = ["Rejected", "as_json", "record_version"]

# a record as its vendor sent it: amounts stay JSON numbers
_raw = msgspec.json.Encoder(decimal_format="number")
_log = logging.getLogger("mediator.ingress")
#: the longest reason kept (a dead letter's reason is for people)
_REASON = 2000


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    """A record to dead-letter: its JSON, identity (id and version, when readable), and why."""

    payload: msgspec.Raw
    source_id: str | None
    version: str
    reason: str
    error_class: str = "DecodeError"
    error: str | None = None

    @classmethod
    def of(cls, bad: Undecodable) -> Rejected:
        """A record that did not decode, as the connector reported it."""
        version = bad.version() if bad.source_id is not None else f"sha256:{bad.fingerprint}"
        return cls(
            payload=as_json(bad.raw),
            source_id=bad.source_id,
            version=version,
            reason=str(bad.error)[:_REASON],
        )

    @classmethod
    def failed(
        cls, record: object, exc: Exception, *, path: str, source_id: str, version: str, what: str
    ) -> Rejected:
        """A decoded `record` (`what` it is, for the log) whose mapping raised `exc`.

        A `DecodeError` names the field; anything else is a fault in mediator: logged with its
        traceback, and said so in the reason.
        """
        if isinstance(exc, DecodeError):
            reason, error = str(exc), None
        else:
            _log.error("mapping %s %s failed", what, source_id, exc_info=exc)
            error = f"{type(exc).__name__}: {exc}"
            reason = f"{path}: could not be mapped ({error}); a fault in mediator, see its log"
        return cls(
            payload=msgspec.Raw(_raw.encode(record)),
            source_id=source_id,
            version=version,
            reason=reason[:_REASON],
            error_class=type(exc).__name__,
            error=error,
        )

    async def dead_letter(
        self,
        journal: Journal,
        *,
        key: str,
        kind: str,
        source: str,
        idempotency_key: str,
        occurred_at: datetime.datetime | None = None,
    ) -> None:
        """Journal the record as a dead letter: appended and dead in one transaction (a crash
        between the two would leave it open, to be delivered, and the next poll would find it
        a duplicate and leave it so)."""
        envelope = Envelope(
            id=new_id(),
            key=key,
            kind=kind,
            source=source,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at or datetime.datetime.now(datetime.UTC),
            payload=self.payload,
        )
        await journal.append_dead(
            envelope,
            reason=self.reason,
            error_class=self.error_class,
            system=source,
            error=self.error,
        )


def as_json(raw: bytes) -> msgspec.Raw:
    """`raw` as the journal can keep it: it came out of a page that parsed as JSON, so it is
    JSON, but its bytes may be invalid UTF-8 inside a string: kept as a JSON string then."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return msgspec.Raw(_raw.encode(raw.decode("utf-8", "backslashreplace")))
    return msgspec.Raw(raw)


def record_version(stamp: datetime.datetime | None, record: object) -> str:
    """A record's version: its stamp (``updated_at``, ``SystemModstamp``), or, for a record that
    carries none, a digest of its content, so that reading it again is a duplicate rather than
    a new fact (the clock would differ at each poll)."""
    if stamp is not None:
        return stamp.isoformat()
    return "sha256:" + hashlib.sha256(_raw.encode(record)).hexdigest()[:32]

"""The Tryton connector: JSON-RPC sessions, paged reads, idempotent batched creates, postings."""

from mediator.systems.tryton.commands import (
    REFERENCE_FIELDS,
    AppliedPayment,
    ApplyPayment,
    CreateRecord,
    PostedInvoice,
    PostInvoice,
    RecordRef,
    WriteRecord,
    Written,
)
from mediator.systems.tryton.connector import TrytonConnector
from mediator.systems.tryton.session import (
    TrytonSession,
    TrytonSessions,
)

__all__ = [
    "REFERENCE_FIELDS",
    "AppliedPayment",
    "ApplyPayment",
    "CreateRecord",
    "PostInvoice",
    "PostedInvoice",
    "RecordRef",
    "TrytonConnector",
    "TrytonSession",
    "TrytonSessions",
    "WriteRecord",
    "Written",
]

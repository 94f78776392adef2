"""Harvest API v2: its wire types (`wire`), their mapping to canonical entities (`mapping`),
write bodies (`write`) and what its error answers mean (`errors`).

The same verbs as every vendor package: `decode` (bytes to this vendor's wire types, raising
only `DecodeError`), `<entity>_from_harvest` / `<entity>_to_harvest`, and `error_code`.
"""

from mediator.codecs.harvest.errors import error_code
from mediator.codecs.harvest.mapping import (
    assignment_from_harvest,
    client_from_harvest,
    consultant_from_harvest,
    decode_harvest,
    decode_harvest_records,
    expense_from_harvest,
    expenses_from_harvest,
    project_from_harvest,
    time_entries_from_harvest,
    time_entry_from_harvest,
)
from mediator.codecs.harvest.mapping import decode_harvest as decode

__all__ = [
    "assignment_from_harvest",
    "client_from_harvest",
    "consultant_from_harvest",
    "decode",
    "decode_harvest",
    "decode_harvest_records",
    "error_code",
    "expense_from_harvest",
    "expenses_from_harvest",
    "project_from_harvest",
    "time_entries_from_harvest",
    "time_entry_from_harvest",
]

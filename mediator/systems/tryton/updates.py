"""Batched writes of absolute values to existing Tryton records: `WriteRecord`.

The writes of one model in a batch go to Tryton as one ``model.<model>.write`` with the id and
value pairs of every command (trytond's ``write(records, values, *args)``), one transaction.
An invalid one (a ``UserError``: a record that is gone, a value the model refuses) undoes them
all, so then each is written alone and only the bad one reports its error. The values are
absolute, so retrying a write whose answer was lost writes the same values again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mediator.codecs.tryton import RpcValue
from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.errors import DecodeError, MediatorError
from mediator.systems.tryton.chunks import by_model, item_error
from mediator.systems.tryton.commands import REFERENCE_FIELDS, WriteRecord, Written

if TYPE_CHECKING:
    from mediator.systems.tryton.connector import TrytonConnector

__all__ = ["write_records"]

_MODEL = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


async def write_records(
    connector: TrytonConnector, commands: Sequence[WriteRecord]
) -> list[object]:
    """Carry out `commands`; a `Written` or an error per command, in order."""
    results, chunks = by_model(commands, _check, connector.max_create)
    for model, chunk in chunks:
        outcomes = await _write_chunk(connector, model, [commands[i] for i in chunk])
        for index, outcome in zip(chunk, outcomes, strict=True):
            results[index] = outcome
    return results


async def _write_chunk(
    connector: TrytonConnector, model: str, commands: Sequence[WriteRecord]
) -> list[object]:
    try:
        await _write(connector, model, commands)
        return [Written(model=model, ids=c.ids) for c in commands]
    except MediatorError as exc:
        if not (item_error(exc) and len(commands) > 1):
            return [exc] * len(commands)
    outcomes: list[object] = []
    for command in commands:
        try:
            await _write(connector, model, [command])
            outcomes.append(Written(model=model, ids=command.ids))
        except MediatorError as exc:
            outcomes.append(exc)
    return outcomes


async def _write(connector: TrytonConnector, model: str, commands: Sequence[WriteRecord]) -> None:
    pairs: list[RpcValue] = []
    for command in commands:
        pairs += [list(command.ids), dict(command.values)]
    attempt = max(command.attempt for command in commands)
    await connector.call(f"model.{model}.write", *pairs, attempt=attempt)
    connector.count_batch(len(commands))


def _check(command: WriteRecord) -> MediatorError | None:
    if not _MODEL.match(command.model):
        return DecodeError("tryton", "$.model", f"not a model name: {command.model!r:.60}")
    if not command.ids or not all(type(i) is int and i > 0 for i in command.ids):
        return DecodeError("tryton", "$.ids", "one or more positive record ids")
    if not command.values:
        return DecodeError("tryton", "$.values", "nothing to write")
    reference = REFERENCE_FIELDS.get(command.model)
    if reference is not None and reference in command.values:
        return DecodeError(
            "tryton", f"$.values.{reference}", "the reference field is never written"
        )
    try:
        tryton_dumps(command.values)
    except (TypeError, ValueError) as exc:
        return DecodeError("tryton", "$.values", str(exc))
    return None

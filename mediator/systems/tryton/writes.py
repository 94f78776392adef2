"""Idempotent, batched writes to Tryton: lookup by reference, one list create, item fallback.

For the creates of one model in a batch:

1. each command is checked alone (known model, a reference, values Tryton's JSON can carry),
   so a malformed one is rejected without costing the others a call;
2. one ``search_read`` finds the references that already exist (a retry after a lost answer,
   a duplicate in the queue), and one ``create`` makes the rest — the two retried together, so
   a create whose answer was lost is found by the next lookup instead of made twice;
3. trytond creates a list in one transaction, so one invalid record (a ``UserError``) undoes
   them all: then each is created alone, the bad one reports its own error and the rest
   commit.

The lookup asks with ``active_test: False``, so it sees archived records as well. A party
whose code is the reference but that someone archived in Tryton is refused with
`BusinessRejected` naming both: creating a second party with the same code would split the
customer's history (and trytond refuses the duplicate code anyway), and reactivating it would
silently undo a deliberate decision of the finance team. They reactivate it (or merge it) and
replay the dead letter; the other records of the batch go through.

An invoice is looked up by ``reference``, created if absent, validated and posted, each step
skipped when the invoice is already past it, so a retry continues where the last one stopped.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from mediator.codecs.tryton import RpcValue
from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.errors import BusinessRejected, DecodeError, MediatorError, RemoteRejected
from mediator.systems.tryton.chunks import by_model, item_error
from mediator.systems.tryton.commands import (
    REFERENCE_FIELDS,
    CreateRecord,
    PostedInvoice,
    PostInvoice,
    RecordRef,
)

if TYPE_CHECKING:
    from mediator.systems.tryton.connector import TrytonConnector

__all__ = ["create_records", "post_invoice"]

Values = dict[str, RpcValue]
# reference -> (id, existed before this call), or why it is refused (an archived record)
Found = dict[str, tuple[int, bool] | MediatorError]

_MAX_REFERENCE = 255
_INVOICE_FIELDS = ("reference", "number", "state", "invoice_date", "total_amount")
# models of REFERENCE_FIELDS that archive records (trytond's DeactivableMixin: an `active`)
_DEACTIVABLE = frozenset({"party.party"})


async def create_records(
    connector: TrytonConnector, commands: Sequence[CreateRecord]
) -> list[object]:
    """Carry out `commands`; a `RecordRef` or an error per command, in order."""
    results, chunks = by_model(commands, _check, connector.max_create)
    for model, chunk in chunks:
        found = await _create_chunk(connector, model, [commands[i] for i in chunk])
        for index in chunk:
            command = commands[index]
            outcome = found[command.reference]
            results[index] = (
                outcome
                if isinstance(outcome, BaseException)
                else RecordRef(
                    model=model, id=outcome[0], reference=command.reference, existed=outcome[1]
                )
            )
    return results


async def _create_chunk(
    connector: TrytonConnector, model: str, commands: Sequence[CreateRecord]
) -> dict[str, tuple[int, bool] | MediatorError]:
    field = REFERENCE_FIELDS[model]
    wanted: dict[str, Values] = {}
    for command in commands:  # the first command of a reference wins; repeats share its record
        wanted.setdefault(command.reference, {**command.values, field: command.reference})
    attempt = max(command.attempt for command in commands)
    endpoint = f"model.{model}.create"
    try:
        found = await connector.run_with_retries(
            lambda: _lookup_then_create(connector, model, field, wanted),
            endpoint=endpoint,
            attempt=attempt,
        )
        return dict(found)
    except MediatorError as exc:
        if not (item_error(exc) and len(wanted) > 1):
            return dict.fromkeys(wanted, exc)
    outcomes: dict[str, tuple[int, bool] | MediatorError] = {}
    for reference, values in wanted.items():
        alone = {reference: values}
        try:
            one = await connector.run_with_retries(
                functools.partial(_lookup_then_create, connector, model, field, alone),
                endpoint=endpoint,
                attempt=attempt,
            )
            outcomes[reference] = one[reference]
        except MediatorError as exc:
            outcomes[reference] = exc
    return outcomes


async def _lookup_then_create(
    connector: TrytonConnector,
    model: str,
    field: str,
    wanted: Mapping[str, Values],
    domain: Sequence[RpcValue] = (),
) -> Found:
    deactivable = model in _DEACTIVABLE
    rows = await connector.call_once(
        f"model.{model}.search_read",
        [[field, "in", list(wanted)], *domain],
        0,
        None,
        [["id", "ASC"]],
        ["id", field, "active"] if deactivable else ["id", field],
        context={"active_test": False},
    )
    found: Found = {}
    for row in rows if isinstance(rows, list) else []:
        record = row.get("id") if isinstance(row, dict) else None
        if not (isinstance(row, dict) and isinstance(record, int)):
            continue
        reference = str(row.get(field))
        if reference in found:
            continue
        # trytond on SQLite answers booleans as 0/1, on PostgreSQL as false/true
        if deactivable and row.get("active") in (False, 0):
            found[reference] = BusinessRejected(
                f"{model} {field} {reference!r}",
                f"record {record} with this {field} is archived in Tryton: reactivate it "
                "there and replay; a second one is not created",
            )
        else:
            found[reference] = (record, True)
    missing = [reference for reference in wanted if reference not in found]
    if missing:
        ids = await connector.call_once(
            f"model.{model}.create", [wanted[reference] for reference in missing]
        )
        if not (isinstance(ids, list) and len(ids) == len(missing)):
            raise DecodeError("tryton", "$.result", f"create of {len(missing)} gave {ids!r:.80}")
        connector.count_batch(len(missing))
        for reference, new_id in zip(missing, ids, strict=True):
            if not isinstance(new_id, int):
                raise DecodeError("tryton", "$.result", f"create gave a non-id {new_id!r:.40}")
            found[reference] = (new_id, False)
    return found


def _check(command: CreateRecord) -> MediatorError | None:
    field = REFERENCE_FIELDS.get(command.model)
    if field is None or command.model == "account.invoice":
        return DecodeError("tryton", "$.model", f"no reference field for {command.model!r:.60}")
    if not command.reference or len(command.reference) > _MAX_REFERENCE:
        return DecodeError("tryton", "$.reference", "a reference of 1 to 255 characters")
    given = command.values.get(field)
    if given is not None and given != command.reference:
        return DecodeError("tryton", f"$.values.{field}", "differs from the reference")
    try:
        tryton_dumps(command.values)
    except (TypeError, ValueError) as exc:
        return DecodeError("tryton", "$.values", str(exc))
    return None


async def post_invoice(connector: TrytonConnector, command: PostInvoice) -> PostedInvoice:
    """Create (unless found by reference), validate and post one customer invoice."""
    reference = command.reference
    given = command.values.get("reference")
    if not reference or len(reference) > _MAX_REFERENCE or given not in (None, reference):
        raise DecodeError("tryton", "$.reference", "a reference of 1 to 255 characters")
    values: Values = {"type": "out", **command.values, "reference": reference}
    found = await connector.run_with_retries(
        lambda: _lookup_then_create(
            connector,
            "account.invoice",
            "reference",
            {reference: values},
            [["type", "=", "out"]],
        ),
        endpoint="model.account.invoice.create",
        attempt=command.attempt,
    )
    outcome = found[reference]
    if isinstance(outcome, MediatorError):  # invoices are never archived; kept for the types
        raise outcome
    invoice, existed = outcome
    row = await _invoice(connector, invoice)
    if row["state"] == "draft":
        await connector.call(
            "model.account.invoice.validate_invoice", [invoice], attempt=command.attempt
        )
    if row["state"] in ("draft", "validated"):
        post = connector.transport.policy_for("model.account.invoice.post")
        if post.window is not None:  # the finance calendar: PostingWindowClosed until it opens
            post.window.check(connector.clock.time())
        await connector.call("model.account.invoice.post", [invoice], attempt=command.attempt)
        row = await _invoice(connector, invoice)
    if row["state"] not in ("posted", "paid"):
        raise RemoteRejected(
            "tryton", 200, "InvoiceNotPosted", f"invoice {invoice} is {row['state']!s}"
        )
    total = row["total_amount"]
    date = row["invoice_date"]
    return PostedInvoice(
        id=invoice,
        reference=reference,
        number=str(row["number"]),
        state=str(row["state"]),
        invoice_date=date if isinstance(date, dt.date) else None,
        total_amount=total if isinstance(total, Decimal) else Decimal(str(total)),
        existed=existed,
    )


async def _invoice(connector: TrytonConnector, invoice: int) -> dict[str, RpcValue]:
    (row,) = await connector.read("account.invoice", [invoice], _INVOICE_FIELDS)
    return row

"""Paying a customer invoice in Tryton through its pay wizard, idempotently.

Tryton keeps no idempotency key for a payment, so the command says what the invoice's paid
amount must become (`ApplyPayment.paid_total`) rather than what to add: the connector reads
the invoice first (total, amount still to pay, state, currency) and pays only the difference.
A retry after a lost answer, a replay, or a second event about the same payment reads the
payment already there and pays nothing. The read and the pay are one unit retried together.

The wizard is ``wizard.account.invoice.pay``: ``create`` a session, ``execute`` its ``start``
form with the amount, date, description and payment method and the ``choice`` transition, then
``delete`` the session. A real trytond asks, for an amount below what is due, whether the rest
stays open or is written off (the ``ask`` state): the connector answers ``partial``, so the
rest stays due. The invoice is addressed by the context's ``active_id``, as the client does.
A credit note (a customer invoice with a negative total) is settled the same way with negative
amounts, as trytond's ``pay_invoice`` takes them (the payment line goes to the debit side).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from mediator.codecs.tryton import RpcValue
from mediator.errors import BusinessRejected, DecodeError
from mediator.systems.tryton.commands import AppliedPayment, ApplyPayment

if TYPE_CHECKING:
    from mediator.systems.tryton.connector import TrytonConnector

__all__ = ["apply_payment"]

_WIZARD = "wizard.account.invoice.pay"
_FIELDS = ("state", "total_amount", "amount_to_pay", "currency.code", "number")


async def apply_payment(connector: TrytonConnector, command: ApplyPayment) -> AppliedPayment:
    """Pay the difference between `command.paid_total` and what the invoice has paid."""
    return await connector.run_with_retries(
        lambda: _apply(connector, command),
        endpoint=f"{_WIZARD}.execute",
        attempt=command.attempt,
    )


async def _apply(connector: TrytonConnector, command: ApplyPayment) -> AppliedPayment:
    total, paid, state, (currency_id, currency) = await _paid(connector, command.invoice)
    if currency != command.currency:
        raise BusinessRejected(
            f"account.invoice {command.invoice}",
            f"the invoice is in {currency}, the payment in {command.currency}",
        )
    if state not in ("posted", "paid"):
        raise BusinessRejected(
            f"account.invoice {command.invoice}", f"the invoice is {state}, not posted"
        )
    sign = -1 if total < 0 else 1  # a credit note (a negative total) is paid out, not in
    if sign * command.paid_total > sign * total:
        raise BusinessRejected(
            f"account.invoice {command.invoice}",
            f"overpaid: {command.paid_total} {currency} paid on a total of {total} {currency}",
        )
    due = command.paid_total - paid
    if sign * due <= 0:  # applied before (a retry, a replay, a second event of the same payment)
        return AppliedPayment(
            invoice=command.invoice, total=total, paid_before=paid, applied=Decimal(0), state=state
        )
    await _pay(connector, command, due, currency_id)
    _, _, after, _ = await _paid(connector, command.invoice)
    return AppliedPayment(
        invoice=command.invoice, total=total, paid_before=paid, applied=due, state=after
    )


async def _paid(
    connector: TrytonConnector, invoice: int
) -> tuple[Decimal, Decimal, str, tuple[int, str]]:
    answer = await connector.call_once("model.account.invoice.read", [invoice], list(_FIELDS))
    if not (isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], dict)):
        raise DecodeError("tryton", "$.result", f"account.invoice {invoice}: no such invoice")
    row = answer[0]
    total, to_pay, state = row.get("total_amount"), row.get("amount_to_pay"), row.get("state")
    ref = row.get("currency.")
    code = ref.get("code") if isinstance(ref, dict) else None
    currency = ref.get("id") if isinstance(ref, dict) else None
    if not (isinstance(total, Decimal) and isinstance(state, str) and isinstance(code, str)):
        raise DecodeError("tryton", "$.result[0]", "total_amount, state or currency.code missing")
    if not isinstance(currency, int):
        raise DecodeError("tryton", "$.result[0].currency.", "no currency id")
    if state == "paid":
        return total, total, state, (currency, code)
    if state != "posted" or not isinstance(to_pay, Decimal):
        return total, Decimal(0), state, (currency, code)
    return total, total - to_pay, state, (currency, code)


async def _pay(
    connector: TrytonConnector, command: ApplyPayment, amount: Decimal, currency: int
) -> None:
    context: dict[str, RpcValue] = {
        "active_id": command.invoice,
        "active_ids": [command.invoice],
        "active_model": "account.invoice",
    }
    created = await connector.call_once(f"{_WIZARD}.create")
    if not (isinstance(created, list) and created and isinstance(created[0], int)):
        raise DecodeError("tryton", "$.result", f"{_WIZARD}.create gave {created!r:.80}")
    session = created[0]
    form: dict[str, RpcValue] = {
        "start": {
            "amount": amount,
            "currency": currency,  # trytond asserts it is the invoice's or the company's
            "date": command.received_on,
            "description": command.description,
            "payment_method": command.payment_method,
        }
    }
    try:
        answer = await connector.call_once(
            f"{_WIZARD}.execute", session, form, "choice", context=context
        )
        view = answer.get("view") if isinstance(answer, dict) else None
        if isinstance(view, dict) and view.get("state") == "ask":  # trytond: partial or write-off
            form["ask"] = {"type": "partial", "lines": [], "payment_lines": []}
            await connector.call_once(f"{_WIZARD}.execute", session, form, "pay", context=context)
    finally:
        await connector.call_once(f"{_WIZARD}.delete", session)

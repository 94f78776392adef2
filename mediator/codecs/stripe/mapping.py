"""Stripe ↔ canonical: customers and invoices read back, payments from paid invoices, and the
form parameters the flows send (customers, invoice items, invoices).

Stripe's smallest unit is the ISO minor unit except where Stripe documents otherwise
(its "special cases": ISK is sent with two decimals although ISO gives it none, MGA with none
although ISO gives it two); `to_stripe_amount` and `from_stripe_amount` convert.
What each item bills travels in ``metadata[mediator_origin]`` so reconciliation can match lines.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar

import msgspec

from mediator.codecs.canonical.billing import Invoice, InvoiceLine, InvoiceStatus, Payment
from mediator.codecs.canonical.currencies import EXPONENTS
from mediator.codecs.canonical.money import MAX_MINOR_UNITS, Money
from mediator.codecs.canonical.parties import Address, Client, TaxProfile
from mediator.codecs.records import Decoded, decode_each
from mediator.codecs.scalars import decimal_at
from mediator.codecs.stripe import wire
from mediator.codecs.validation import WireDecoder
from mediator.errors import AmountOutOfRange, DecodeError

__all__ = [
    "ORIGIN_KEY",
    "credit_note_params",
    "customer_from_stripe",
    "customer_params",
    "decode_event_object",
    "decode_stripe",
    "decode_stripe_records",
    "from_stripe_amount",
    "invoice_from_stripe",
    "invoice_item_params",
    "invoice_item_update_params",
    "invoice_params",
    "payment_from_stripe",
    "to_stripe_amount",
]

SYSTEM: Final = "stripe"
ORIGIN_KEY: Final = "mediator_origin"
"""The metadata key that carries the canonical key of what an item bills."""

T = TypeVar("T")
_STRIPE_EXPONENTS = MappingProxyType({"ISK": 2, "MGA": 0})
_STATUSES: Mapping[str, InvoiceStatus] = MappingProxyType(
    {s: s for s in ("draft", "open", "paid", "void", "uncollectible")}
)
_WIRE_TYPES: tuple[object, ...] = (
    wire.StCustomer, wire.StInvoiceItem, wire.StInvoice, wire.StEvent, wire.StError,
    wire.StList[wire.StCustomer], wire.StList[wire.StInvoiceItem], wire.StList[wire.StInvoice],
    wire.StList[wire.StEvent], wire.StList[wire.StLineItem], wire.StList[msgspec.Raw],
    wire.StCreditNote, wire.StList[wire.StCreditNote],
    wire.StTaxRate,
)  # fmt: skip
_DECODERS: Mapping[object, WireDecoder[object]] = MappingProxyType(
    {kind: WireDecoder(SYSTEM, kind) for kind in _WIRE_TYPES}  # type: ignore[arg-type]  # aliases
)
_EVENT_OBJECTS: Mapping[str, type] = MappingProxyType(
    {
        "invoice": wire.StInvoice,
        "invoiceitem": wire.StInvoiceItem,
        "customer": wire.StCustomer,
        "credit_note": wire.StCreditNote,
    }
)


def decode_stripe(body: bytes | str, type: type[T]) -> T:
    """Decode a response into a wire type (``StInvoice``, ``StList[StCustomer]``, ``StError``)."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type!r} is not a Stripe wire type")
    return decoder.decode(body)  # type: ignore[return-value]  # keyed by the same type


def decode_stripe_records(raws: Sequence[msgspec.Raw], type: type[T], path: str) -> Decoded[T]:
    """Decode each raw record of the list at `path` (``$.data``) into `type`, apart: one bad
    record is an `Undecodable` naming its field (``$.data[3].created``), not a failed page."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type!r} is not a Stripe wire type")
    return decode_each(decoder, raws, path, stamp_field="created")  # type: ignore[arg-type]  # keyed by `type`


def decode_event_object(
    event: wire.StEvent,
) -> wire.StInvoice | wire.StInvoiceItem | wire.StCustomer | wire.StCreditNote:
    """Decode ``data.object`` of an event by its type (``invoice.paid`` → `StInvoice`).

    Raises `DecodeError` at ``$.type`` for an event this mediator does not consume.
    """
    kind = event.type.partition(".")[0]
    target = _EVENT_OBJECTS.get(kind)
    if target is None:
        raise DecodeError(SYSTEM, "$.type", f"unhandled event type {event.type!r:.60}")
    try:
        return _DECODERS[target].decode(event.data.object)  # type: ignore[return-value]  # each decoder decodes to its own target type
    except DecodeError as exc:
        raise DecodeError(SYSTEM, "$.data.object" + exc.path[1:], exc.reason) from exc


def _iso(currency: str, path: str) -> str:
    code = currency.upper()
    if code not in EXPONENTS:
        raise DecodeError(SYSTEM, path, f"unknown currency {currency!r:.20}")
    return code


def from_stripe_amount(
    amount: int, currency: str, *, path: str = "$", field: str = "amount"
) -> Money:
    """Return Stripe's `amount` of lower-case `currency` as canonical Money.

    Raises `DecodeError` at ``path.currency`` for an unknown currency, and at ``path.field``
    for an amount that is not a whole minor unit or beyond the range of `Money`.
    """
    code = _iso(currency, f"{path}.currency")
    shift = EXPONENTS[code] - _STRIPE_EXPONENTS.get(code, EXPONENTS[code])
    if shift >= 0:
        minor = amount * 10**shift
    else:
        minor, rest = divmod(amount, 10**-shift)
        if rest:
            raise DecodeError(
                SYSTEM, f"{path}.{field}", f"{amount} {code} is not a whole minor unit"
            )
    try:
        return Money(amount=minor, currency=code)
    except ValueError as exc:  # AmountOutOfRange: MGA's amounts grow a hundredfold in ISO units
        raise DecodeError(SYSTEM, f"{path}.{field}", str(exc)) from exc


def to_stripe_amount(money: Money) -> int:
    """Return `money` in Stripe's smallest unit of its currency.

    Raises `ValueError` when Stripe cannot represent it (a fraction of an ariary), and
    `AmountOutOfRange` when it is beyond Stripe's 64-bit amounts (an ISK amount near the limit).
    """
    iso = EXPONENTS[money.currency]
    shift = _STRIPE_EXPONENTS.get(money.currency, iso) - iso
    factor: int = 10 ** abs(shift)
    if shift >= 0:
        if abs(money.amount * factor) > MAX_MINOR_UNITS:
            raise AmountOutOfRange(f"{money} in Stripe's units", money.currency)
        return money.amount * factor
    whole, rest = divmod(money.amount, factor)
    if rest:
        raise ValueError(f"{money} is not a whole unit in Stripe's {money.currency}")
    return whole


def _day(epoch: int | None) -> datetime.date | None:
    return None if epoch is None else datetime.datetime.fromtimestamp(epoch, datetime.UTC).date()


def customer_from_stripe(customer: wire.StCustomer, *, path: str = "$") -> Client:
    """Map a customer; the CRM id it was made from is in ``metadata[mediator_client]``."""
    address = customer.address
    exempt = customer.tax_exempt if customer.tax_exempt in ("none", "exempt", "reverse") else None
    if exempt is None:
        raise DecodeError(SYSTEM, f"{path}.tax_exempt", f"unknown {customer.tax_exempt!r:.20}")
    return Client(
        source_system=SYSTEM,
        source_id=customer.id,
        name=customer.name or "",
        email=customer.email,
        tax=TaxProfile(exempt=exempt),  # type: ignore[arg-type]  # checked above
        billing_address=None
        if address is None
        else Address(
            street=address.line1,
            city=address.city,
            region=address.state,
            postal_code=address.postal_code,
            country=address.country,
        ),
        currency=None if customer.currency is None else _iso(customer.currency, f"{path}.currency"),
        is_active=not customer.deleted,
    )


def _line(line: wire.StLineItem, path: str) -> InvoiceLine:
    amount = from_stripe_amount(line.amount, line.currency, path=path)
    # quantity and unit price ride in metadata as text (`invoice_item_params`): anyone with
    # access to the Stripe dashboard can edit them, so they are read like any vendor number
    given = line.metadata.get("quantity")
    quantity = (
        Decimal(line.quantity or 1)
        if given is None
        else decimal_at(SYSTEM, f"{path}.metadata.quantity", given)
    )
    unit = line.metadata.get("unit_amount")
    unit_amount = amount
    if unit is not None:
        try:
            unit_amount = Money.from_decimal(unit, amount.currency)
        except ValueError as exc:
            raise DecodeError(SYSTEM, f"{path}.metadata.unit_amount", str(exc)) from exc
    return InvoiceLine(
        description=line.description or "",
        quantity=quantity,
        unit_amount=unit_amount,
        amount=amount,
        origin_id=line.metadata.get(ORIGIN_KEY),
        period_start=None if line.period is None else _day(line.period.start),
        period_end=None if line.period is None else _day(line.period.end),
    )


def invoice_from_stripe(invoice: wire.StInvoice, *, path: str = "$") -> Invoice:
    """Map an invoice with its (first page of) lines; tax is what the total adds to the subtotal.

    Raises `DecodeError` naming the field: an amount beyond `Money`'s range, a tax (total −
    subtotal) beyond it, a line in another currency, metadata that is not a number.
    """
    status = _STATUSES.get(invoice.status or "draft")
    if status is None:
        raise DecodeError(SYSTEM, f"{path}.status", f"unknown status {invoice.status!r:.20}")
    subtotal, total, due = (
        from_stripe_amount(getattr(invoice, field), invoice.currency, path=path, field=field)
        for field in ("subtotal", "total", "amount_remaining")
    )
    try:
        tax = total - subtotal
    except AmountOutOfRange as exc:  # total = MAX, subtotal = -MAX: no real invoice, no tax
        raise DecodeError(SYSTEM, f"{path}.total", f"tax (total - subtotal): {exc}") from exc
    data = [] if invoice.lines is None else invoice.lines.data
    lines = tuple(_line(line, f"{path}.lines.data[{i}]") for i, line in enumerate(data))
    try:
        return Invoice(
            source_system=SYSTEM,
            source_id=invoice.id,
            client_id=invoice.customer,
            engagement_id=invoice.metadata.get("mediator_engagement"),
            number=invoice.number,
            status=status,
            currency=subtotal.currency,
            lines=lines,
            subtotal=subtotal,
            tax=tax,
            total=total,
            amount_due=due,
            issued_on=_day(invoice.status_transitions.finalized_at),
            due_on=_day(invoice.due_date),
        )
    except ValueError as exc:  # a line in another currency
        raise DecodeError(SYSTEM, f"{path}.lines", str(exc)) from exc


def payment_from_stripe(invoice: wire.StInvoice, *, path: str = "$") -> Payment:
    """Map a paid invoice (``invoice.paid``) to the payment that settled it."""
    paid_at = invoice.status_transitions.paid_at
    if invoice.status != "paid" or paid_at is None:
        raise DecodeError(SYSTEM, f"{path}.status", f"invoice is {invoice.status}, not paid")
    return Payment(
        source_system=SYSTEM,
        source_id=invoice.payment_intent or invoice.charge or invoice.id,
        client_id=invoice.customer,
        invoice_id=invoice.id,
        amount=from_stripe_amount(
            invoice.amount_paid, invoice.currency, path=path, field="amount_paid"
        ),
        received_on=datetime.datetime.fromtimestamp(paid_at, datetime.UTC).date(),
        method="out_of_band" if invoice.paid_out_of_band else "stripe",
        reference=invoice.number,
    )


def customer_params(
    client: Client,
    *,
    metadata: Mapping[str, str] | None = None,
    payment_terms_days: int | None = None,
) -> dict[str, object]:
    """Return the form parameters that create or update a customer for `client`.

    `metadata` adds to the canonical id (e.g. the ERP and PSA ids of the same client).
    Stripe customers have no payment terms of their own (``days_until_due`` is set per
    invoice), so `payment_terms_days` is shown on every invoice as a custom field
    (``invoice_settings[custom_fields]``) and kept in ``metadata[payment_terms_days]``.
    """
    address = client.billing_address
    tags = {"mediator_client": f"{client.source_system}:{client.source_id}", **(metadata or {})}
    params: dict[str, object] = {
        "name": client.name,
        "email": client.email,
        "tax_exempt": client.tax.exempt,
        "metadata": tags,
    }
    if payment_terms_days is not None:
        tags["payment_terms_days"] = str(payment_terms_days)
        params["invoice_settings"] = {
            "custom_fields": [{"name": "Payment terms", "value": f"Net {payment_terms_days} days"}]
        }
    if address is not None:
        params["address"] = {
            "line1": address.street,
            "city": address.city,
            "state": address.region,
            "postal_code": address.postal_code,
            "country": address.country,
        }
    return params


def invoice_item_params(
    line: InvoiceLine, *, customer: str, invoice: str | None = None
) -> dict[str, object]:
    """Return the form parameters of ``POST /v1/invoiceitems`` for `line`.

    Stripe quantities are whole numbers and hours are not, so the item carries the exact
    `amount`; quantity and unit price ride in the metadata and the description.
    """
    period = None
    if line.period_start is not None and line.period_end is not None:
        period = {"start": _epoch(line.period_start), "end": _epoch(line.period_end)}
    metadata = {"quantity": str(line.quantity), "unit_amount": str(line.unit_amount.to_decimal())}
    if line.origin_id is not None:
        metadata[ORIGIN_KEY] = line.origin_id
    return {
        "customer": customer,
        "invoice": invoice,
        "amount": to_stripe_amount(line.amount),
        "currency": line.amount.currency.lower(),
        "description": line.description,
        "period": period,
        "metadata": metadata,
    }


def invoice_item_update_params(line: InvoiceLine) -> dict[str, object]:
    """Return the form parameters of ``POST /v1/invoiceitems/{id}`` that make an item say
    `line`: its exact amount, description and metadata (quantity and unit price as text, as
    `invoice_item_params` sends them); customer, currency and invoice do not change."""
    params = invoice_item_params(line, customer="")
    return {key: params[key] for key in ("amount", "description", "metadata", "period")}


def invoice_params(
    *,
    customer: str,
    currency: str,
    days_until_due: int,
    engagement_id: str | None = None,
    period: str | None = None,
    service_line: str | None = None,
    tax_rates: tuple[str, ...] = (),
) -> dict[str, object]:
    """Return the form parameters of a draft invoice in `currency` (ISO, any case), due in
    `days_until_due` days; items are attached explicitly, never swept in from pending ones.
    The engagement, the billing `period` (``YYYY-MM``) and the service line (the ERP's
    revenue account follows it) ride in the metadata; `tax_rates` (``txr_…`` ids) become
    its `default_tax_rates`, which Stripe applies to every line without rates of its own."""
    metadata = {
        key: value
        for key, value in (
            ("mediator_engagement", engagement_id),
            ("mediator_period", period),
            ("mediator_service_line", service_line),
        )
        if value is not None
    }
    params: dict[str, object] = {
        "customer": customer,
        "currency": currency.lower(),
        "collection_method": "send_invoice",
        "days_until_due": days_until_due,
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "metadata": metadata or None,
    }
    if tax_rates:
        params["default_tax_rates"] = list(tax_rates)
    return params


def _epoch(day: datetime.date) -> int:
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())


def credit_note_params(
    *, invoice: str, lines: Sequence[InvoiceLine], memo: str, origin: str
) -> dict[str, object]:
    """Return the form parameters of ``POST /v1/credit_notes`` crediting `lines` on the
    finalized `invoice`: one ``custom_line_item`` per line (each line's amount is positive,
    what is taken back). Stripe's quantities are whole numbers: a line of whole hours is sent as
    hours × unit price, any other as one unit of its exact amount (the hours in its
    description). `origin` (the correction's key) rides in ``metadata[mediator_origin]``, which
    is how the flow finds a credit note it issued before."""
    sent = []
    for line in lines:
        whole = line.quantity == line.quantity.to_integral_value() and line.quantity > 0
        exact = whole and line.unit_amount.scale(line.quantity) == line.amount
        quantity = int(line.quantity) if exact else 1
        unit = line.unit_amount if exact else line.amount
        sent.append(
            {
                "type": "custom_line_item",
                "description": line.description,
                "quantity": quantity,
                "unit_amount": to_stripe_amount(unit),
            }
        )
    return {"invoice": invoice, "lines": sent, "memo": memo, "metadata": {ORIGIN_KEY: origin}}

"""The rest of what Stripe documents on customers, invoices and invoice items.

Hashes and arrays (`invoice_settings[custom_fields][0][name]`, `shipping[address][city]`,
`tax_id_data[0][type]`, `default_tax_rates[]`, `discounts[0][coupon]`, …) and scalars the
connectors do not send but the API reference lists. Each is read with Stripe's checks, so a
client that sends one gets what Stripe would answer rather than `parameter_unknown`:
custom fields at most 4, names up to 40 and values up to 140 characters; a statement
descriptor up to 22; ids of kinds this sandbox holds none of (coupons, payment methods,
prices, test clocks), and of tax rates it does not hold, are a 400 `resource_missing` naming
the parameter, which is what Stripe answers for an id it does not know.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal, InvalidOperation

from mediator.sandbox.stripe.params import MAX_AMOUNT, Params, invalid
from mediator.sandbox.stripe.store import StripeObject

__all__ = [
    "CUSTOMER_EXTRAS",
    "INVOICE_EXTRAS",
    "ITEM_EXTRAS",
    "customer_extras",
    "invoice_extras",
    "item_extras",
    "unit_amount_decimal",
]

CUSTOMER_EXTRAS = (
    "balance",
    "invoice_settings",
    "next_invoice_sequence",
    "shipping",
    "tax_id_data",
    "coupon",
    "promotion_code",
    "payment_method",
    "source",
    "test_clock",
)
INVOICE_EXTRAS = (
    "account_tax_ids",
    "default_tax_rates",
    "custom_fields",
    "discounts",
    "footer",
    "statement_descriptor",
    "due_date",
    "default_payment_method",
    "default_source",
    "number",
    "effective_at",
    "subscription",
    "on_behalf_of",
    "automatic_tax",
)
ITEM_EXTRAS = (
    "tax_rates",
    "discounts",
    "discountable",
    "tax_behavior",
    "tax_code",
    "unit_amount_decimal",
    "price",
    "subscription",
)

_ADDRESS = {"line1": 200, "line2": 200, "city": 200, "state": 200, "postal_code": 20}
_ADDRESS |= {"country": 2}
_TAX_ID_TYPES = frozenset(
    " ".join(
        (
            "ad_nrt ae_trn ar_cuit au_abn au_arn bg_uic bh_vat bo_tin br_cnpj br_cpf ca_bn",
            "ca_gst_hst ca_pst_bc ca_pst_mb ca_pst_sk ca_qst ch_uid ch_vat cl_tin cn_tin co_nit",
            "cr_tin de_stn do_rcn ec_ruc eg_tin es_cif eu_oss_vat eu_vat gb_vat ge_vat hk_br",
            "hr_oib hu_tin id_npwp il_vat in_gst is_vat jp_cn jp_rn jp_trn ke_pin kr_brn kz_bin",
            "li_uid mx_rfc my_frp my_itn my_sst ng_tin no_vat no_voec nz_gst om_vat pe_ruc",
            "ph_tin ro_tin rs_pib ru_inn ru_kpp sa_vat sg_gst sg_uen si_tin sv_nit th_vat",
            "tr_tin tw_vat ua_vat us_ein uy_ruc ve_rif vn_tin za_vat",
        )
    ).split()
)
_SETTINGS: StripeObject = {
    "custom_fields": None,
    "default_payment_method": None,
    "footer": None,
    "rendering_options": None,
}
_MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z


def _custom_fields(p: Params, name: str = "custom_fields") -> list[dict[str, str]] | None:
    """Read up to 4 `{name, value}` custom fields (name ≤ 40, value ≤ 140 characters)."""
    items = p.hashes(name, max_items=4)
    if items is None:
        return None
    out = []
    for item in items:
        item.only(("name", "value")).required("name", "value")
        out.append(
            {
                "name": item.text("name", max_length=40) or "",
                "value": item.text("value", max_length=140) or "",
            }
        )
    return out


def _discounts(p: Params) -> list[object] | None:
    """Read `discounts[i][coupon|discount|promotion_code]` (none of which exist here)."""
    items = p.hashes("discounts", max_items=20)
    if items is None:
        return None
    for item in items:
        item.only(("coupon", "discount", "promotion_code"))
        for name in ("coupon", "discount", "promotion_code"):
            item.reference(name, name)
    return []


def customer_extras(p: Params, current: StripeObject | None) -> StripeObject:
    """Read the documented customer parameters beyond the basic ones.

    `current` is the customer being updated (None on create): `invoice_settings` merges
    into its settings key by key, as Stripe merges hashes.
    """
    creating = current is None
    fields: StripeObject = {}
    if p.has("balance"):
        fields["balance"] = p.amount("balance") or 0
    if p.has("next_invoice_sequence"):
        fields["next_invoice_sequence"] = p.integer(
            "next_invoice_sequence", minimum=1, maximum=1_000_000_000
        )
    settings = p.nested("invoice_settings")
    if settings is not None:
        settings.only(("custom_fields", "default_payment_method", "footer", "rendering_options"))
        settings.reference("default_payment_method", "payment_method")
        rendering = settings.nested("rendering_options")
        if rendering is not None:
            rendering.only(("amount_tax_display", "template"))
            rendering.choice("amount_tax_display", ("", "exclude_tax", "include_inclusive_tax"))
            rendering.reference("template", "invoice_rendering_template")
        before = (current or {}).get("invoice_settings")
        merged = dict(before) if isinstance(before, dict) else dict(_SETTINGS)
        if settings.has("custom_fields") or not settings.values:
            merged["custom_fields"] = _custom_fields(settings) or None
        if settings.has("footer") or not settings.values:
            merged["footer"] = settings.text("footer", max_length=5000) or None
        fields["invoice_settings"] = merged
    shipping = p.nested("shipping")
    if shipping is not None and shipping.values:
        shipping.only(("name", "phone", "address")).required("name", "address")
        fields["shipping"] = {
            "name": shipping.text("name", max_length=5000),
            "phone": shipping.text("phone", max_length=20),
            "address": shipping.record("address", _ADDRESS),
        }
    elif shipping is not None:
        fields["shipping"] = None
    tax_ids = p.hashes("tax_id_data", max_items=25) if creating else None
    if tax_ids:
        data = []
        for item in tax_ids:
            item.only(("type", "value")).required("type", "value")
            kind = item.text("type", max_length=20) or ""
            if kind not in _TAX_ID_TYPES:
                raise invalid(item.prefix + "[type]", f"Invalid tax_id type: {kind[:40]}")
            data.append({"object": "tax_id", "type": kind, "value": item.text("value")})
        # not a field of the customer object: the routes keep these apart (store.tax_ids),
        # and `expand[]=tax_ids` includes them, as Stripe does
        fields["tax_ids"] = data
    for name, kind in (
        ("coupon", "coupon"),
        ("promotion_code", "promotion_code"),
        ("payment_method", "payment_method"),
        ("source", "source"),
        ("test_clock", "test_helpers.test_clock"),
    ):
        p.reference(name, kind)
    return fields


def invoice_extras(p: Params, tax_rates: Collection[str] = ()) -> StripeObject:
    """Read the documented invoice parameters beyond the basic ones (`tax_rates`: the ids of
    the account's tax rates, which `default_tax_rates[]` may name)."""
    fields: StripeObject = {}
    p.references("account_tax_ids", "tax_id")
    if p.has("default_tax_rates"):
        fields["default_tax_rates"] = (
            p.references("default_tax_rates", "tax_rate", known=tax_rates) or []
        )
    if p.has("custom_fields"):
        fields["custom_fields"] = _custom_fields(p) or None
    if p.has("discounts"):
        fields["discounts"] = _discounts(p)
    if p.has("footer"):
        fields["footer"] = p.text("footer", max_length=5000) or None
    if p.has("statement_descriptor"):
        fields["statement_descriptor"] = p.text("statement_descriptor", max_length=22) or None
    if p.has("number"):
        fields["number"] = p.text("number", max_length=26) or None
    for name in ("due_date", "effective_at"):
        if p.has(name):
            fields[name] = p.integer(name, minimum=0, maximum=_MAX_TIMESTAMP)
    for name, kind in (
        ("default_payment_method", "payment_method"),
        ("default_source", "source"),
        ("subscription", "subscription"),
        ("on_behalf_of", "account"),
    ):
        p.reference(name, kind)
    automatic = p.nested("automatic_tax")
    if automatic is not None:
        automatic.only(("enabled", "liability")).required("enabled")
        automatic.nested("liability")
        fields["automatic_tax"] = {"enabled": automatic.boolean("enabled"), "status": None}
    return fields


def item_extras(p: Params, tax_rates: Collection[str] = ()) -> StripeObject:
    """Read the documented invoice item parameters beyond the basic ones (`tax_rates`: the
    ids of the account's tax rates, which `tax_rates[]` may name)."""
    fields: StripeObject = {}
    if p.has("tax_rates"):
        fields["tax_rates"] = p.references("tax_rates", "tax_rate", known=tax_rates) or []
    if p.has("discounts"):
        fields["discounts"] = _discounts(p)
    if p.has("discountable"):
        fields["discountable"] = p.boolean("discountable")
    if p.has("tax_behavior"):
        fields["tax_behavior"] = p.choice("tax_behavior", ("exclusive", "inclusive", "unspecified"))
    for name, kind in (
        ("tax_code", "tax_code"),
        ("price", "price"),
        ("subscription", "subscription"),
    ):
        p.reference(name, kind)
    return fields


def unit_amount_decimal(p: Params) -> Decimal | None:
    """Read `unit_amount_decimal`: a decimal in the smallest unit, at most 12 decimal places."""
    text = p.text("unit_amount_decimal", max_length=40)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent if value.is_finite() else 0
    if (
        not value.is_finite()
        or not isinstance(exponent, int)
        or exponent < -12
        or abs(value) > MAX_AMOUNT
        or not (text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit())
    ):
        raise invalid("unit_amount_decimal", f"Invalid decimal: {text[:40]}")
    return value

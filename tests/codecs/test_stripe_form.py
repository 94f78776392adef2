"""Stripe form bodies: bracket nesting as the official SDK writes it, and decoding it."""

from __future__ import annotations

import datetime
import urllib.parse
from decimal import Decimal

import pytest
import stripe._encode as stripe_encode  # the SDK's own encoder, as the fidelity reference
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs.stripe.form import decode_form, encode_form
from mediator.errors import DecodeError

_keys = st.text(st.characters(blacklist_characters="[]", blacklist_categories=["Cs"]), min_size=1)
_values = st.text(st.characters(blacklist_categories=["Cs"]))
_nested = st.recursive(
    _values,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(_keys.filter(lambda k: not k.isdigit()), inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _nested, max_size=5))
def test_any_nesting_of_strings_survives_a_round_trip(params: dict[str, object]) -> None:
    assert decode_form(encode_form(params)) == params


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_keys, _nested, max_size=5))
def test_our_body_is_byte_for_byte_the_sdk_body(params: dict[str, object]) -> None:
    expected = urllib.parse.urlencode(list(stripe_encode._api_encode(params)))
    assert encode_form(params) == expected


def test_invoice_item_body_is_what_stripe_documents() -> None:
    body = encode_form(
        {
            "customer": "cus_123",
            "amount": 150_000,
            "currency": "usd",
            "metadata": {"mediator_key": "time:42"},
            "period": {"start": 1_700_000_000, "end": 1_700_086_400},
            "expand": ["invoice"],
            "discountable": False,
            "description": None,
        }
    )
    assert urllib.parse.unquote_plus(body) == (
        "customer=cus_123&amount=150000&currency=usd&metadata[mediator_key]=time:42"
        "&period[start]=1700000000&period[end]=1700086400&expand[0]=invoice&discountable=false"
    )


def test_scalars_are_written_as_stripe_expects() -> None:
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    body = encode_form({"a": Decimal("1.50"), "b": 2.5, "c": when, "d": True})
    assert decode_form(body) == {"a": "1.50", "b": "2.5", "c": "1767225600", "d": "true"}


@pytest.mark.parametrize(
    "bad", [{"a": float("nan")}, {"a": object()}, {"a": datetime.datetime(2026, 1, 1)}]
)
def test_unencodable_values_are_a_caller_bug(bad: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        encode_form(bad)


@pytest.mark.parametrize("key", ["", "a[b", "x]"])
def test_keys_that_cannot_nest_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="nested"):
        encode_form({"metadata": {key: "v"}})


def test_curl_style_empty_brackets_build_lists_and_group_maps_like_rack() -> None:
    body = "expand[]=customer&expand[]=invoice&lines[][a]=1&lines[][b]=2&lines[][a]=3"
    assert decode_form(body) == {
        "expand": ["customer", "invoice"],
        "lines": [{"a": "1", "b": "2"}, {"a": "3"}],
    }


def test_indices_out_of_order_still_make_a_list_and_gaps_stay_a_map() -> None:
    assert decode_form("l[1]=b&l[0]=a") == {"l": ["a", "b"]}
    assert decode_form("l[0]=a&l[2]=c") == {"l": {"0": "a", "2": "c"}}


def test_blank_values_and_plus_signs_decode() -> None:
    assert decode_form(b"metadata=&name=Acme+Corp") == {"metadata": "", "name": "Acme Corp"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"name=\xff\xfe", "$"),
        ("name=%ff", "$"),
        ("a=1&a[b]=2", "$.a"),
        ("a[b]=2&a=1", "$.a"),
        ("a[]=1&a[b]=2", "$.a"),
        ("a[x=1", "$.a"),
        ("a[x]y=1", "$.a.x"),
        ("[x]=1", "$"),
        ("a[][]=1", "$.a[]"),
        ("a" + "[x]" * 40 + "=1", "$.a" + ".x" * 16),
    ],
)
def test_malformed_bodies_are_decode_errors_with_a_path(body: str | bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_form(body)
    assert info.value.system == "stripe"
    assert info.value.path == path


def test_too_many_fields_is_refused_before_parsing() -> None:
    with pytest.raises(DecodeError, match="more than 100 fields"):
        decode_form("&".join(f"k{i}=v" for i in range(200)), max_fields=100)


def test_a_ten_megabyte_value_decodes_without_fuss() -> None:
    value = "x" * 10_000_000
    assert decode_form(f"description={value}")["description"] == value

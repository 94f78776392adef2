"""Envelope payloads: current kinds round-trip; entries written by older versions upcast on read."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.codecs import (
    CANONICAL,
    Client,
    Envelope,
    Money,
    PayloadRegistry,
    PayloadSchema,
    TimeEntry,
)
from mediator.errors import DecodeError

_FIXTURE = Path(__file__).parent / "fixtures" / "journal_v1.json"
_AT = dt.datetime(2026, 10, 31, 17, 5, tzinfo=dt.UTC)


def _entry(**changes: object) -> TimeEntry:
    fields: dict[str, Any] = {  # TimeEntry's fields, any value the test chooses
        "source_system": "harvest",
        "source_id": "636708723",
        "project_id": "42",
        "consultant_id": "7",
        "spent_on": dt.date(2026, 10, 30),
        "hours": Decimal("7.5"),
        "billable": True,
        "bill_rate": Money(amount=18_000, currency="EUR"),
    }
    fields.update(changes)
    return TimeEntry(**fields)


def _envelope(registry: PayloadRegistry, kind: str, payload: msgspec.Struct) -> Envelope:
    return registry.envelope(
        kind, payload, key="project:42", source="harvest", idempotency_key="k", occurred_at=_AT
    )


def test_journal_entries_written_by_version_1_still_decode() -> None:
    entries = msgspec.json.decode(_FIXTURE.read_bytes(), type=list[Envelope])
    decoded = {entry.kind: CANONICAL.decode(entry) for entry in entries}
    assert set(decoded) == {
        "client", "engagement", "assignment", "time_entry", "milestone", "invoice", "payment",
    }  # fmt: skip
    entry = decoded["time_entry"]
    assert isinstance(entry, TimeEntry)
    assert entry.billable_amount() == Money(amount=135_000, currency="EUR")
    client = decoded["client"]
    assert isinstance(client, Client)
    assert client.parent_id == "001A000000"
    assert client.tax.exempt == "reverse"


def test_every_canonical_kind_round_trips_through_the_journal_shape() -> None:
    entries = msgspec.json.decode(_FIXTURE.read_bytes(), type=list[Envelope])
    for entry in entries:
        payload = CANONICAL.decode(entry)
        again = _envelope(CANONICAL, entry.kind, payload)
        wire = msgspec.json.encode(again)
        assert CANONICAL.decode(msgspec.json.decode(wire, type=Envelope)) == payload


# An earlier TimeEntry shape, as a release before this one might have written it: hours as
# minutes, the rate as bare cents with the currency beside it, "approved" called "is_closed".
_V1 = {"minutes": 450, "rate_cents": 18_000, "currency": "EUR", "is_closed": True}


def _v1_to_v2(old: dict[str, object]) -> dict[str, object]:
    new = dict(old)
    new["bill_rate"] = {"amount": new.pop("rate_cents"), "currency": new.pop("currency")}
    new["approved"] = new.pop("is_closed")
    return new


def _v2_to_v3(old: dict[str, object]) -> dict[str, object]:
    new = dict(old)
    minutes = new.pop("minutes")
    assert isinstance(minutes, int)
    new["hours"] = str(Decimal(minutes) / 60)
    return new


_EVOLVED = PayloadRegistry(
    [
        PayloadSchema(
            kind="time_entry", type=TimeEntry, version=3, upcasters={1: _v1_to_v2, 2: _v2_to_v3}
        )
    ]
)


def _old_envelope(version: int, payload: dict[str, object]) -> Envelope:
    base = {
        "source_system": "harvest", "source_id": "1", "project_id": "42", "consultant_id": "7",
        "spent_on": "2026-10-30", "billable": True,
    }  # fmt: skip
    return Envelope(
        id="0192f0a0000070008000000000000001",
        key="project:42",
        kind="time_entry",
        source="harvest",
        idempotency_key="k",
        occurred_at=_AT,
        schema_version=version,
        payload=msgspec.Raw(msgspec.json.encode({**base, **payload})),
    )


def test_upcasters_chain_from_the_oldest_version_to_the_current_shape() -> None:
    entry = _EVOLVED.decode_as(_old_envelope(1, _V1), TimeEntry)
    assert entry.hours == Decimal("7.5")
    assert entry.approved is True
    assert entry.bill_rate == Money(amount=18_000, currency="EUR")


def test_a_new_envelope_carries_the_current_version() -> None:
    assert _envelope(_EVOLVED, "time_entry", _entry()).schema_version == 3
    assert _envelope(CANONICAL, "time_entry", _entry()).schema_version == 1


def test_an_old_payload_that_no_longer_validates_names_the_field() -> None:
    bad = {**_V1, "currency": "XXX"}
    with pytest.raises(DecodeError) as info:
        _EVOLVED.decode(_old_envelope(1, bad))
    assert (info.value.system, info.value.path) == ("harvest", "$.bill_rate")


def test_an_upcaster_that_cannot_read_the_entry_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="upcast v1→v2"):
        _EVOLVED.decode(_old_envelope(1, {"minutes": 450}))


def test_entries_from_a_newer_release_or_an_unknown_kind_are_refused() -> None:
    with pytest.raises(DecodeError) as info:
        CANONICAL.decode(_old_envelope(2, {}))
    assert info.value.path == "$.schema_version"
    unknown = msgspec.structs.replace(_old_envelope(1, {}), kind="nope")
    with pytest.raises(DecodeError) as info:
        CANONICAL.decode(unknown)
    assert info.value.path == "$.kind"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b'{"hours": "NaN"}', "$"),
        (b"[" * 10_000 + b"]" * 10_000, "$"),
        (b'{"source_id": "\xff"}', "$"),
    ],
)
def test_hostile_payloads_in_the_journal_are_decode_errors(payload: bytes, path: str) -> None:
    envelope = msgspec.structs.replace(_old_envelope(1, {}), payload=msgspec.Raw(payload))
    with pytest.raises(DecodeError) as info:
        CANONICAL.decode(envelope)
    assert info.value.path == path


def test_hours_that_are_not_a_number_name_the_field() -> None:
    envelope = _old_envelope(1, {"hours": "many"})
    with pytest.raises(DecodeError) as info:
        CANONICAL.decode(envelope)
    assert info.value.path == "$.hours"


def test_an_alias_shares_type_version_and_upcasters() -> None:
    registry = _EVOLVED.with_alias("psa.time_entry.approved", like="time_entry")
    old = msgspec.structs.replace(_old_envelope(1, _V1), kind="psa.time_entry.approved")
    assert registry.decode_as(old, TimeEntry).approved is True
    with pytest.raises(ValueError, match="twice"):
        registry.with_alias("psa.time_entry.approved", like="time_entry")


def test_a_payload_of_the_wrong_type_is_refused_when_wrapping() -> None:
    client = Client(source_system="salesforce", source_id="001", name="Acme")
    with pytest.raises(TypeError):
        _envelope(CANONICAL, "time_entry", client)


def test_upcasters_must_lead_to_the_current_version() -> None:
    with pytest.raises(ValueError, match="do not lead"):
        PayloadSchema(kind="x", type=TimeEntry, version=3, upcasters={1: _v1_to_v2})


def test_fixture_is_the_journal_shape() -> None:
    # guard against someone "fixing" the fixture instead of writing an upcaster
    raw = json.loads(_FIXTURE.read_text())
    assert all(entry["schema_version"] == 1 for entry in raw)

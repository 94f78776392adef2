"""Envelope payloads by kind and schema version, and the upcasters that read old versions.

The journal keeps every entry forever, so a payload written by an older release must still
decode after the canonical model changed. Each kind has a current version; an entry written
at version ``n`` is decoded as a plain map, passed through the upcasters ``n → n+1 → … →
current``, then validated into the current Struct (msgspec's schema-evolution advice: evolve
by adding optional fields; anything else gets an upcaster).

The registry is an immutable value, built once and passed explicitly; `with_schema` and
`with_alias` return new registries.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol, TypeVar

import msgspec

from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.codecs.validation import decode_error
from mediator.errors import DecodeError

__all__ = ["PayloadRegistry", "PayloadSchema", "Upcaster"]

S = TypeVar("S", bound=msgspec.Struct)


class Upcaster(Protocol):
    """Turns a version-``n`` payload (a plain map) into the version ``n+1`` map.

    It may raise `KeyError`, `TypeError` or `ValueError` on a payload it cannot read; that
    becomes a `DecodeError` naming the step.
    """

    def __call__(self, payload: dict[str, object], /) -> dict[str, object]: ...


_ENCODER = msgspec.json.Encoder()
_MAP = msgspec.json.Decoder(dict[str, object])


class PayloadSchema(msgspec.Struct, frozen=True, kw_only=True):
    """A kind's payload `type` at its current `version`, and the upcasters from older ones.

    ``upcasters[n]`` turns version ``n`` into ``n + 1``; their keys must run without a gap up
    to ``version - 1`` (they may start above 1 once the oldest entries are gone).
    """

    kind: str
    type: type[msgspec.Struct]
    version: int = 1
    upcasters: Mapping[int, Upcaster] = MappingProxyType({})

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"{self.kind}: schema versions start at 1")
        steps = sorted(self.upcasters)
        if steps and steps != list(range(steps[0], self.version)):
            raise ValueError(f"{self.kind}: upcasters {steps} do not lead to v{self.version}")


class PayloadRegistry:
    """Encodes payloads into envelopes and decodes envelopes back into current Structs."""

    __slots__ = ("_decoders", "_schemas")

    def __init__(self, schemas: Iterable[PayloadSchema] = ()) -> None:
        table: dict[str, PayloadSchema] = {}
        for schema in schemas:
            if schema.kind in table:
                raise ValueError(f"kind {schema.kind!r} registered twice")
            table[schema.kind] = schema
        self._schemas: Mapping[str, PayloadSchema] = MappingProxyType(table)
        # one decoder per payload type, shared by the kinds that carry it
        decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[msgspec.Struct]] = {}
        for schema in table.values():
            decoders.setdefault(schema.type, msgspec.json.Decoder(schema.type))
        self._decoders = MappingProxyType(decoders)

    def with_schema(self, schema: PayloadSchema) -> PayloadRegistry:
        """Return a registry that also knows `schema` (its kind must be new)."""
        return PayloadRegistry([*self._schemas.values(), schema])

    def with_alias(self, kind: str, like: str) -> PayloadRegistry:
        """Return a registry where `kind` carries what `like` carries: type, version, upcasters."""
        model = self.schema(like)
        alias = PayloadSchema(
            kind=kind, type=model.type, version=model.version, upcasters=model.upcasters
        )
        return self.with_schema(alias)

    def kinds(self) -> frozenset[str]:
        """Return every registered kind."""
        return frozenset(self._schemas)

    def schema(self, kind: str) -> PayloadSchema:
        """Return the schema of `kind`; `KeyError` when it is not registered."""
        return self._schemas[kind]

    def envelope(
        self,
        kind: str,
        payload: msgspec.Struct,
        *,
        key: str,
        source: str,
        idempotency_key: str,
        occurred_at: datetime.datetime,
        traceparent: str | None = None,
        id: str | None = None,
    ) -> Envelope:
        """Wrap `payload` in a new envelope stamped with `kind`'s current schema version.

        Raises `TypeError` when `payload` is not the type registered for `kind`.
        """
        schema = self.schema(kind)
        if type(payload) is not schema.type:
            raise TypeError(f"{kind} carries {schema.type.__name__}, not {type(payload).__name__}")
        return Envelope(
            id=new_id() if id is None else id,
            key=key,
            kind=kind,
            source=source,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
            schema_version=schema.version,
            traceparent=traceparent,
            payload=msgspec.Raw(_ENCODER.encode(payload)),
        )

    def decode(self, envelope: Envelope) -> msgspec.Struct:
        """Return the envelope's payload as its kind's current Struct, upcasting if older.

        Raises `DecodeError` (system = the envelope's source) for an unknown kind, a version
        newer than this release knows, or a payload that does not validate, with the path
        inside the payload (``$.hours``).
        """
        system = envelope.source
        schema = self._schemas.get(envelope.kind)
        if schema is None:
            raise DecodeError(system, "$.kind", f"unknown kind {envelope.kind!r}")
        version = envelope.schema_version
        if version == schema.version:
            try:
                return self._decoders[schema.type].decode(envelope.payload)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise decode_error(system, exc) from exc
        if version > schema.version:
            raise DecodeError(system, "$.schema_version", f"v{version} is newer than this release")
        if version not in schema.upcasters:
            raise DecodeError(system, "$.schema_version", f"no upcaster from v{version}")
        try:
            data = _MAP.decode(envelope.payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise decode_error(system, exc) from exc
        for step in range(version, schema.version):
            try:
                data = schema.upcasters[step](data)
            except (KeyError, TypeError, ValueError) as exc:
                raise DecodeError(system, "$", f"upcast v{step}→v{step + 1}: {exc!r}") from exc
        try:
            return msgspec.convert(data, schema.type)
        except msgspec.ValidationError as exc:
            raise decode_error(system, exc) from exc

    def decode_as(self, envelope: Envelope, type: type[S]) -> S:
        """Like `decode`, and check that the payload is a `type` (`TypeError` when not)."""
        payload = self.decode(envelope)
        if not isinstance(payload, type):
            raise TypeError(f"{envelope.kind} carries {payload.__class__.__name__}")
        return payload

"""Trace context that travels with a message: a span per message handled, parented on the sender.

In process the sender's `SpanContext` rides in the mailbox as is; across the journal it is
written as a W3C `traceparent` string and read back with `parse_traceparent`, so a trace
survives a restart or a replay. Without an OpenTelemetry SDK the API is a no-op, and the
runtime skips span work entirely (`Tracing.enabled` is false).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
    TracerProvider,
)

__all__ = [
    "Tracing",
    "context_from_traceparent",
    "current_span_context",
    "format_traceparent",
    "parse_traceparent",
]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class Tracing:
    """The tracer the runtime uses, and whether spans are recorded at all.

    Pass a `TracerProvider` to trace into a specific SDK pipeline (tests use an in-memory
    exporter); by default the global provider is read once, when the runtime starts.
    """

    __slots__ = ("enabled", "tracer")

    def __init__(self, provider: TracerProvider | None = None) -> None:
        provider = provider if provider is not None else trace.get_tracer_provider()
        self.tracer: Tracer = provider.get_tracer("mediator.actors")
        # The API's own providers make non-recording spans: skip that work on the hot path.
        self.enabled = not isinstance(
            provider, trace.NoOpTracerProvider | trace.ProxyTracerProvider
        )

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        traceparent: str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, str | int] | None = None,
    ) -> Iterator[None]:
        """A span for the block, current inside it: the child of the span `traceparent`
        names, or the root of a new trace without one (never of whatever span the calling
        task happened to inherit). Nothing at all when tracing is off."""
        if not self.enabled:
            yield
            return
        with self.tracer.start_as_current_span(
            name,
            context=context_from_traceparent(traceparent) or Context(),
            kind=kind,
            attributes=attributes,
        ):
            yield

    def parent_context(self, parent: SpanContext | None) -> Context | None:
        """The context to start a handler's span in, given the sender's span context."""
        if parent is None or not parent.is_valid:
            return None
        return trace.set_span_in_context(NonRecordingSpan(parent))


def current_span_context() -> SpanContext | None:
    """The span context of the caller, or None when no span is active."""
    ctx = trace.get_current_span().get_span_context()
    return ctx if ctx.is_valid else None


def format_traceparent(ctx: SpanContext) -> str:
    """Write `ctx` as a W3C traceparent header value."""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def parse_traceparent(value: str | None) -> SpanContext | None:
    """Read a W3C traceparent; None for a missing, malformed or all-zero value."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def context_from_traceparent(value: str | None) -> Context | None:
    """An OpenTelemetry `Context` whose current span is the one named by `value`, if valid."""
    ctx = parse_traceparent(value)
    return None if ctx is None else trace.set_span_in_context(NonRecordingSpan(ctx))

"""Tracing: spans per message and per batch, parented on their senders; traceparent parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mediator.actors import (
    Actor,
    ActorRef,
    BatchActor,
    context_from_traceparent,
    format_traceparent,
    open_supervisor,
    parse_traceparent,
)

from .support import Recorder, wait_until


async def test_spans_link_sender_and_receiver_across_tell_and_ask() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    log: list[object] = []

    class Forwarder(Actor[str]):
        def __init__(self, target: ActorRef[object]) -> None:
            self.target = target

        async def receive(self, message: str) -> object:
            await self.target.tell(f"told {message}")
            return await self.target.ask(f"asked {message}")

    async with open_supervisor(tracer_provider=provider) as sup:
        sink = sup.spawn(lambda: Recorder(log), name="sink")
        forwarder = sup.spawn(lambda: Forwarder(sink), name="forwarder")
        with tracer.start_as_current_span("webhook") as root:
            assert await forwarder.ask("x") == "asked x"
        await wait_until(
            lambda: sum(s.name.endswith(" receive") for s in exporter.get_finished_spans()) == 3,
            what="the forwarder's and the sink's two receive spans ended",
        )

    spans = {s.name: s for s in exporter.get_finished_spans()}
    forward = spans["forwarder receive"]
    assert forward.parent is not None
    assert forward.parent.span_id == root.get_span_context().span_id
    sink_spans = [s for s in exporter.get_finished_spans() if s.name == "sink receive"]
    assert len(sink_spans) == 2
    for span in sink_spans:
        assert span.parent is not None
        assert span.parent.span_id == forward.context.span_id
        assert span.context.trace_id == root.get_span_context().trace_id
    assert log == ["told x", "asked x"]


async def test_a_failed_message_marks_its_span_as_error() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    class Broken(Actor[str]):
        async def receive(self, message: str) -> object:
            raise RuntimeError("bad")

    async with open_supervisor(tracer_provider=provider) as sup:
        ref = sup.spawn(Broken, name="broken")
        await ref.tell("x")
        await ref.wait_stopped()
    (span,) = exporter.get_finished_spans()
    assert not span.status.is_ok
    assert span.events[0].name == "exception"


class GatedBulk(BatchActor[int]):
    """Holds each batch until `gate` is set; odd ints fail item by item, 666 fails the batch."""

    def __init__(self, entered: asyncio.Event, gate: asyncio.Event) -> None:
        self.entered = entered
        self.gate = gate

    async def receive_batch(self, messages: Sequence[int]) -> Sequence[object]:
        self.entered.set()
        await self.gate.wait()
        if 666 in messages:
            raise ConnectionError("bulk endpoint down")
        return [ValueError(f"odd {m}") if m % 2 else m * 10 for m in messages]


async def test_a_batch_is_one_span_parented_on_its_sender_or_linked_to_its_senders() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    entered, gate = asyncio.Event(), asyncio.Event()

    async with open_supervisor(tracer_provider=provider) as sup:
        ref = sup.spawn(lambda: GatedBulk(entered, gate), name="bulk")
        with tracer.start_as_current_span("root") as root:
            first = asyncio.create_task(ref.ask(0))
        await entered.wait()  # [0] is taken alone; the next two queue behind it
        with tracer.start_as_current_span("a") as a:
            await ref.tell(2)
        with tracer.start_as_current_span("b") as b:
            await ref.tell(3)
        gate.set()
        assert await first == 0

    alone, pair = [s for s in exporter.get_finished_spans() if s.name == "bulk receive_batch"]
    assert alone.attributes == {"mediator.actor": "bulk", "mediator.batch_size": 1}
    assert alone.parent is not None
    assert alone.parent.span_id == root.get_span_context().span_id
    assert pair.attributes == {"mediator.actor": "bulk", "mediator.batch_size": 2}
    assert pair.parent is None  # two senders: linked, as a batch consumer is in OTel messaging
    assert [link.context.span_id for link in pair.links] == [
        a.get_span_context().span_id,
        b.get_span_context().span_id,
    ]
    assert pair.status.is_ok  # 3 failed on its own; the batch did not
    (event,) = pair.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "odd 3"


async def test_a_batch_that_raises_marks_its_span_as_error() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gate = asyncio.Event()
    gate.set()

    async with open_supervisor(tracer_provider=provider) as sup:
        ref = sup.spawn(lambda: GatedBulk(asyncio.Event(), gate), name="bulk")
        await ref.tell(666)
        await ref.wait_stopped()
    (span,) = exporter.get_finished_spans()
    assert span.name == "bulk receive_batch"
    assert not span.status.is_ok
    assert span.events[0].name == "exception"
    assert span.events[0].attributes is not None
    assert span.events[0].attributes["exception.type"] == "ConnectionError"


def test_traceparent_round_trip_and_rejects() -> None:
    value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ctx = parse_traceparent(value)
    assert ctx is not None
    assert format_traceparent(ctx) == value
    assert context_from_traceparent(value) is not None
    for bad in [None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", value + "x"]:
        assert parse_traceparent(bad) is None

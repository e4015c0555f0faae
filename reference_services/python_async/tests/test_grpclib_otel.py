"""Unit tests for grpclib_otel: a real grpclib server and client in-process
on 127.0.0.1, spans in an InMemorySpanExporter, metrics in an
InMemoryMetricReader (grpclib_harness.py)."""

import asyncio

import pytest

import conformance_v1_grpc
import conformance_v1_pb2 as pb
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server
from multidict import MultiDict

from opentelemetry.trace import SpanKind, StatusCode

import grpclib_otel
from grpclib_harness import PARENT_ID, SERVICE, TRACE_ID, TRACEPARENT, Servicer, Telemetry, attr, free_port, run
from grpclib_otel import METADATA_GETTER


# --------------------------------------------------------------------------


def test_server_span_continues_incoming_trace_with_seed_attributes():
    async def scenario(tel, servicer, port, stub):
        reply = await stub.Echo(pb.EchoRequest(payload="hi"), metadata={"traceparent": TRACEPARENT})
        assert reply.payload == "hi"

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert span.name == f"{SERVICE}/Echo"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert attr(span, "rpc.system") == "grpc"
    assert attr(span, "rpc.service") == SERVICE
    assert attr(span, "rpc.method") == "Echo"
    assert attr(span, "rpc.grpc.status_code") == 0
    assert span.status.status_code == StatusCode.UNSET
    points = tel.points("rpc.server.duration")
    assert points == [("ms", {"rpc.system": "grpc", "rpc.service": SERVICE,
                              "rpc.method": "Echo", "rpc.grpc.status_code": 0}, 1)]


def test_handler_sees_server_span_and_baggage_as_current_context():
    async def scenario(tel, servicer, port, stub):
        await stub.Echo(pb.EchoRequest(payload="x"), metadata=[
            ("traceparent", TRACEPARENT), ("baggage", "k1=v1"), ("baggage", "k2=v%202"),
        ])

    servicer_box = {}

    async def wrapped(tel, servicer, port, stub):
        servicer_box["s"] = servicer
        await scenario(tel, servicer, port, stub)

    tel = run(wrapped)
    (span,) = tel.finished(SpanKind.SERVER)
    seen = servicer_box["s"].seen_span
    assert seen.get_span_context().span_id == span.context.span_id
    assert servicer_box["s"].seen_baggage == {"k1": "v1", "k2": "v 2"}


@pytest.mark.parametrize("code,error", [
    (Status.NOT_FOUND, False), (Status.INVALID_ARGUMENT, False), (Status.CANCELLED, False),
    (Status.PERMISSION_DENIED, False), (Status.RESOURCE_EXHAUSTED, False),
    (Status.UNKNOWN, True), (Status.DEADLINE_EXCEEDED, True), (Status.UNIMPLEMENTED, True),
    (Status.INTERNAL, True), (Status.UNAVAILABLE, True), (Status.DATA_LOSS, True),
])
def test_server_span_status_by_grpc_code(code, error):
    async def scenario(tel, servicer, port, stub):
        with pytest.raises(GRPCError) as info:
            await stub.Fail(pb.FailRequest(code=code.value, message="boom"))
        assert info.value.status == code

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert attr(span, "rpc.grpc.status_code") == code.value
    assert span.status.status_code == (StatusCode.ERROR if error else StatusCode.UNSET)
    (point,) = tel.points("rpc.server.duration")
    assert point[1]["rpc.grpc.status_code"] == code.value


def test_repeated_traceparent_is_invalid_and_starts_new_trace():
    other = f"00-{'1' * 32}-{'2' * 16}-01"

    async def scenario(tel, servicer, port, stub):
        await stub.Echo(pb.EchoRequest(payload="x"), metadata=[
            ("traceparent", TRACEPARENT), ("traceparent", other), ("tracestate", "a=1"),
        ])

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert format(span.context.trace_id, "032x") not in (TRACE_ID, "1" * 32)
    assert span.parent is None
    assert len(span.context.trace_state) == 0


def test_multiple_tracestate_values_are_combined_in_order():
    async def scenario(tel, servicer, port, stub):
        await stub.Echo(pb.EchoRequest(payload="x"), metadata=[
            ("traceparent", TRACEPARENT), ("tracestate", "b=2,a=1"),
            ("tracestate", "c=3"),
        ])

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert list(span.context.trace_state.items()) == [("b", "2"), ("a", "1"), ("c", "3")]


def test_relay_client_spans_are_children_and_context_is_injected():
    async def scenario(tel, servicer, port, stub):
        reply = await stub.Relay(
            pb.RelayRequest(downstream=f"127.0.0.1:{port}", payload="p", calls=2),
            metadata=[("traceparent", TRACEPARENT), ("tracestate", "v=1"), ("baggage", "bk=bv"),
                      ])
        assert list(reply.payloads) == ["p", "p"]

    box = {}

    async def wrapped(tel, servicer, port, stub):
        box["s"] = servicer
        await scenario(tel, servicer, port, stub)

    tel = run(wrapped)
    (relay,) = tel.finished(SpanKind.SERVER, f"{SERVICE}/Relay")
    clients = tel.finished(SpanKind.CLIENT)
    echoes = tel.finished(SpanKind.SERVER, f"{SERVICE}/Echo")
    assert len(clients) == 2 and len(echoes) == 2
    port = None
    for client in clients:
        assert client.name == f"{SERVICE}/Echo"
        assert client.parent.span_id == relay.context.span_id
        assert client.context.trace_id == relay.context.trace_id
        assert attr(client, "rpc.system") == "grpc"
        assert attr(client, "rpc.service") == SERVICE
        assert attr(client, "rpc.method") == "Echo"
        assert attr(client, "rpc.grpc.status_code") == 0
        assert attr(client, "server.address") == "127.0.0.1"
        assert isinstance(attr(client, "server.port"), int)
        assert client.status.status_code == StatusCode.UNSET
    # the downstream saw one traceparent per call, each with the client span as parent
    parents = set()
    for md in box["s"].seen_metadata:
        (tp,) = md.getall("traceparent")
        version, trace_id, parent_id, flags = tp.split("-")
        assert trace_id == TRACE_ID and flags == "01"
        parents.add(parent_id)
        assert md.getall("tracestate") == ["v=1"]
        assert md.getall("baggage") == ["bk=bv"]
    assert parents == {format(c.context.span_id, "016x") for c in clients}
    assert {e.parent.span_id for e in echoes} == {c.context.span_id for c in clients}
    (point,) = tel.points("rpc.client.duration")
    assert point[0] == "ms" and point[2] == 2
    assert point[1]["rpc.grpc.status_code"] == 0 and point[1]["rpc.method"] == "Echo"


def _chain_through_one_server(last_fail_code=0):
    """Chain -> Chain -> Chain, all on the test server, under the suite's trace."""
    async def scenario(tel, servicer, port, stub):
        hops = [pb.Hop(address=f"127.0.0.1:{port}"), pb.Hop(address=f"127.0.0.1:{port}", fail_code=last_fail_code)]
        request = pb.ChainRequest(payload="p", next=hops)
        metadata = [("traceparent", TRACEPARENT), ("tracestate", "v=1"), ("baggage", "bk=bv")]
        if last_fail_code:
            with pytest.raises(GRPCError) as info:
                await stub.Chain(request, metadata=metadata)
            assert info.value.status == Status(last_fail_code)
        else:
            assert (await stub.Chain(request, metadata=metadata)).payload == "p"

    tel = run(scenario)
    servers = sorted(tel.finished(SpanKind.SERVER), key=lambda s: s.start_time)
    clients = sorted(tel.finished(SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(servers) == 3 and len(clients) == 2
    # each hop's server span is the child of the client span of the hop before it, and the
    # client span the child of its own hop's server span: one line, not siblings
    assert format(servers[0].parent.span_id, "016x") == PARENT_ID
    for k, client in enumerate(clients):
        assert client.parent.span_id == servers[k].context.span_id
        assert servers[k + 1].parent.span_id == client.context.span_id
    for span in servers + clients:
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert list(span.context.trace_state.items()) == [("v", "1")]
    return servers, clients


def test_nested_chain_lines_up_server_and_client_spans():
    _chain_through_one_server()


def test_nested_chain_failure_reaches_every_hop():
    servers, clients = _chain_through_one_server(last_fail_code=Status.FAILED_PRECONDITION.value)
    for span in servers + clients:
        assert attr(span, "rpc.grpc.status_code") == Status.FAILED_PRECONDITION.value
    assert {c.status.status_code for c in clients} == {StatusCode.ERROR}
    assert {s.status.status_code for s in servers} == {StatusCode.UNSET}


def test_client_span_error_for_every_non_ok_code():
    async def scenario(tel, servicer, port, stub):
        channel = grpclib_otel.instrument_channel(Channel("127.0.0.1", port), **tel.kwargs)
        try:
            client = conformance_v1_grpc.ConformanceStub(channel)
            with pytest.raises(GRPCError):
                await client.Fail(pb.FailRequest(code=Status.NOT_FOUND.value, message="nope"))
        finally:
            channel.close()

    tel = run(scenario)
    (client,) = tel.finished(SpanKind.CLIENT)
    (server,) = tel.finished(SpanKind.SERVER)
    assert attr(client, "rpc.grpc.status_code") == 5
    assert client.status.status_code == StatusCode.ERROR
    assert server.status.status_code == StatusCode.UNSET
    assert server.parent.span_id == client.context.span_id


def test_client_span_for_unreachable_downstream():
    closed_port = free_port()

    async def scenario(tel, servicer, port, stub):
        with pytest.raises(GRPCError) as info:
            await stub.Relay(pb.RelayRequest(downstream=f"127.0.0.1:{closed_port}", payload="p"),
                             metadata={"traceparent": TRACEPARENT})
        assert info.value.status == Status.UNAVAILABLE

    tel = run(scenario)
    (client,) = tel.finished(SpanKind.CLIENT)
    (relay,) = tel.finished(SpanKind.SERVER)
    assert client.parent.span_id == relay.context.span_id
    assert attr(client, "rpc.grpc.status_code") == Status.UNAVAILABLE.value
    assert client.status.status_code == StatusCode.ERROR
    assert attr(client, "server.port") == closed_port
    assert relay.status.status_code == StatusCode.ERROR


def test_deadline_exceeded_on_server():
    async def scenario(tel, servicer, port, stub):
        with pytest.raises((GRPCError, asyncio.TimeoutError)):
            await stub.Sleep(pb.SleepRequest(duration_ms=2000), timeout=0.2)
        await asyncio.sleep(0.3)

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert span.name == f"{SERVICE}/Sleep"
    assert attr(span, "rpc.grpc.status_code") == Status.DEADLINE_EXCEEDED.value
    assert span.status.status_code == StatusCode.ERROR


def test_client_cancellation_ends_server_span_cancelled():
    async def scenario(tel, servicer, port, stub):
        task = asyncio.ensure_future(stub.Sleep(pb.SleepRequest(duration_ms=5000)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert attr(span, "rpc.grpc.status_code") == Status.CANCELLED.value
    assert span.status.status_code == StatusCode.UNSET


def test_server_streaming_call():
    async def scenario(tel, servicer, port, stub):
        async with stub.StreamEcho.open() as stream:
            await stream.send_message(pb.StreamEchoRequest(payload="s", count=3), end=True)
            replies = [r.payload async for r in stream]
        assert replies == ["s", "s", "s"]

    tel = run(scenario)
    (span,) = tel.finished(SpanKind.SERVER)
    assert span.name == f"{SERVICE}/StreamEcho"
    assert attr(span, "rpc.grpc.status_code") == 0


def test_instrumented_streaming_client_via_open():
    async def scenario(tel, servicer, port, stub):
        channel = grpclib_otel.instrument_channel(Channel("127.0.0.1", port), **tel.kwargs)
        try:
            client = conformance_v1_grpc.ConformanceStub(channel)
            async with client.StreamEcho.open() as stream:
                await stream.send_message(pb.StreamEchoRequest(payload="s", count=2), end=True)
                replies = [r.payload async for r in stream]
            assert replies == ["s", "s"]
        finally:
            channel.close()

    tel = run(scenario)
    (client,) = tel.finished(SpanKind.CLIENT)
    (server,) = tel.finished(SpanKind.SERVER)
    assert client.name == f"{SERVICE}/StreamEcho"
    assert attr(client, "rpc.grpc.status_code") == 0
    assert server.parent.span_id == client.context.span_id


def test_method_filter_skips_methods():
    tel = Telemetry()

    async def main():
        server = Server([Servicer(tel)])
        grpclib_otel.instrument_server(server, method_filter=lambda m: not m.endswith("/Echo"),
                                       **tel.kwargs)
        port = free_port()
        await server.start("127.0.0.1", port)
        channel = Channel("127.0.0.1", port)
        stub = conformance_v1_grpc.ConformanceStub(channel)
        await stub.Echo(pb.EchoRequest(payload="x"))
        await stub.StreamEcho(pb.StreamEchoRequest(payload="x", count=1))
        channel.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert [s.name for s in tel.finished()] == [f"{SERVICE}/StreamEcho"]


# -- carrier ---------------------------------------------------------------


def test_getter_rules():
    md = MultiDict([("traceparent", "a"), ("TraceState", "x=1"), ("tracestate", " y=2 "),
                    ("baggage", "k=v"), ("bin-bin", b"\x00")])
    assert METADATA_GETTER.get(md, "traceparent") == ["a"]
    assert METADATA_GETTER.get(md, "tracestate") == ["x=1,y=2"]
    assert METADATA_GETTER.get(md, "baggage") == ["k=v"]
    assert METADATA_GETTER.get(md, "missing") is None
    assert METADATA_GETTER.get(md, "bin-bin") is None
    md.add("traceparent", "b")
    assert METADATA_GETTER.get(md, "traceparent") is None

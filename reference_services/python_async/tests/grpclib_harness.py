"""The in-process world the grpclib_otel tests run in: a real grpclib server with a
servicer that records what its handlers saw, and spans and metrics kept in memory."""

import asyncio
import socket
from typing import List

import conformance_v1_grpc
import conformance_v1_pb2 as pb
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server
from multidict import MultiDict

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import grpclib_otel

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SERVICE = "conformance.v1.Conformance"


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.propagator = CompositePropagator(
            [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
        )

    @property
    def kwargs(self):
        return dict(tracer_provider=self.tracer_provider,
                    meter_provider=self.meter_provider,
                    propagator=self.propagator)

    def finished(self, kind=None, name=None) -> List:
        return [s for s in self.spans.get_finished_spans()
                if (kind is None or s.kind == kind)
                and (name is None or s.name == name)]

    def points(self, metric_name):
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric_name:
                        out.extend((m.unit, dict(p.attributes), p.count) for p in m.data.data_points)
        return out


class Servicer(conformance_v1_grpc.ConformanceBase):
    """Test handlers that record what the handler saw."""

    def __init__(self, tel: Telemetry) -> None:
        self.tel = tel
        self.seen_span = None
        self.seen_baggage = None
        self.seen_metadata = []

    async def Echo(self, stream):
        request = await stream.recv_message()
        self.seen_span = trace.get_current_span()
        self.seen_baggage = dict(baggage.get_all())
        self.seen_metadata.append(MultiDict(stream.metadata))
        await stream.send_message(pb.EchoResponse(payload=request.payload))

    async def Fail(self, stream):
        request = await stream.recv_message()
        raise GRPCError(Status(request.code), request.message)

    async def Relay(self, stream):
        request = await stream.recv_message()
        host, _, port = request.downstream.rpartition(":")
        channel = grpclib_otel.instrument_channel(Channel(host, int(port)), **self.tel.kwargs)
        try:
            stub = conformance_v1_grpc.ConformanceStub(channel)
            payloads = []
            for _ in range(request.calls or 1):
                try:
                    reply = await stub.Echo(pb.EchoRequest(payload=request.payload))
                except GRPCError as err:
                    raise GRPCError(err.status, err.message) from None
                except OSError as err:
                    raise GRPCError(Status.UNAVAILABLE, str(err)) from None
                payloads.append(reply.payload)
        finally:
            channel.close()
        await stream.send_message(pb.RelayResponse(payloads=payloads))

    async def Chain(self, stream):
        # Only the hops, each a Chain again: what is under test is how nested calls through
        # one process, each a client of the next, line their spans up.
        request = await stream.recv_message()
        if request.fail_code:
            raise GRPCError(Status(request.fail_code), "chain failure")
        if not request.next:
            await stream.send_message(pb.ChainResponse(payload=request.payload))
            return
        hop, rest = request.next[0], request.next[1:]
        host, _, port = hop.address.rpartition(":")
        channel = grpclib_otel.instrument_channel(Channel(host, int(port)), **self.tel.kwargs)
        try:
            reply = await conformance_v1_grpc.ConformanceStub(channel).Chain(
                pb.ChainRequest(payload=request.payload, fail_code=hop.fail_code, next=rest))
        except GRPCError as err:
            raise GRPCError(err.status, err.message) from None
        finally:
            channel.close()
        await stream.send_message(pb.ChainResponse(payload=reply.payload))

    async def Log(self, stream):
        await stream.recv_message()
        await stream.send_message(pb.LogResponse())

    async def Sleep(self, stream):
        request = await stream.recv_message()
        await asyncio.sleep(request.duration_ms / 1000)
        await stream.send_message(pb.SleepResponse())

    async def StreamEcho(self, stream):
        request = await stream.recv_message()
        for _ in range(request.count):
            await stream.send_message(pb.EchoResponse(payload=request.payload))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(scenario):
    """Start an instrumented server, run scenario(tel, servicer, port, stub)
    with a plain (uninstrumented) grpclib client, stop the server."""
    tel = Telemetry()

    async def main():
        servicer = Servicer(tel)
        server = Server([servicer])
        grpclib_otel.instrument_server(server, **tel.kwargs)
        port = free_port()
        await server.start("127.0.0.1", port)
        channel = Channel("127.0.0.1", port)
        try:
            await scenario(tel, servicer, port, conformance_v1_grpc.ConformanceStub(channel))
        finally:
            channel.close()
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0.05)  # let done-callbacks run

    asyncio.run(main())
    return tel


def attr(span, key):
    return span.attributes.get(key)


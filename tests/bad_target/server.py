"""A misbehaving target, to prove the suite gives a precise verdict instead of hanging.

BAD_TARGET_MODE selects the fault:
  silent      serves the contract correctly but exports no telemetry at all
  garbage     serves the contract and sends undecodable bytes to every OTLP service
  hang        reports SERVING but never answers a contract call
  crash       exits with an error before serving
  never-ready serves health as NOT_SERVING forever
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance" / "proto"))
pb, services = grpc.protos_and_services("conformance_v1.proto")

MODE = os.environ.get("BAD_TARGET_MODE", "silent")
OTLP_SERVICES = ["opentelemetry.proto.collector.trace.v1.TraceService",
                 "opentelemetry.proto.collector.metrics.v1.MetricsService",
                 "opentelemetry.proto.collector.logs.v1.LogsService"]


def send_garbage(endpoint: str) -> None:
    with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        for service in OTLP_SERVICES:
            export = channel.unary_unary(f"/{service}/Export", request_serializer=None,
                                         response_deserializer=None)
            try:
                export(b"\xff\xfe not a protobuf message \x00\x01", timeout=5)
            except grpc.RpcError:
                pass  # the collector is expected to refuse it


class Servicer(services.ConformanceServicer):
    def __init__(self, stop: threading.Event):
        self._stop = stop

    def _maybe_hang(self, context):
        if MODE == "hang":
            self._stop.wait()  # until SIGTERM
        if MODE == "garbage":
            send_garbage(os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])

    def Echo(self, request, context):
        self._maybe_hang(context)
        return pb.EchoResponse(payload=request.payload)

    def Fail(self, request, context):
        self._maybe_hang(context)
        context.abort(next(c for c in grpc.StatusCode if c.value[0] == request.code), request.message)

    def Relay(self, request, context):
        self._maybe_hang(context)
        with grpc.insecure_channel(request.downstream) as channel:
            stub = services.ConformanceStub(channel)
            return pb.RelayResponse(payloads=[stub.Echo(pb.EchoRequest(payload=request.payload)).payload
                                              for _ in range(max(1, request.calls))])

    def Log(self, request, context):
        self._maybe_hang(context)
        return pb.LogResponse()

    def Sleep(self, request, context):
        self._maybe_hang(context)
        done = threading.Event()
        context.add_callback(done.set)  # ends early when the call is cancelled
        done.wait(request.duration_ms / 1000)
        return pb.SleepResponse()

    def StreamEcho(self, request, context):
        self._maybe_hang(context)
        for _ in range(request.count):
            yield pb.EchoResponse(payload=request.payload)


def main() -> int:
    if MODE == "crash":
        print("bad target: crashing on purpose", file=sys.stderr)
        return 3
    stop = threading.Event()
    # Room for the 8,192-byte baggage of BAG-001 (gRPC C-core's soft limit is 8 KiB in all).
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.max_metadata_size", 64 * 1024), ("grpc.absolute_max_metadata_size", 64 * 1024)])
    services.add_ConformanceServicer_to_server(Servicer(stop), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{os.environ['PORT']}")
    server.start()
    status = health_pb2.HealthCheckResponse.NOT_SERVING if MODE == "never-ready" else health_pb2.HealthCheckResponse.SERVING
    health_servicer.set("", status)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

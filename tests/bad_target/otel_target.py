"""A hand-instrumented target for the suite's regression tests.

It implements conformance.v1.Conformance and grpc.health.v1 with grpcio and traces itself
with the OpenTelemetry SDK directly (no opentelemetry-instrumentation-grpc): one small
server interceptor and explicit client spans, so that each fault below is one branch.
Without faults it passes the whole catalog under the seed profile.

BAD_TARGET_FAULTS is a comma-separated list of faults (empty: none); each changes exactly
one behaviour, see FAULTS. An unknown fault exits 2.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from concurrent import futures
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import context as otel_context, propagate, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance" / "proto"))
pb, services = grpc.protos_and_services("conformance_v1.proto")  # in memory, never written

FAULTS = {
    "clock-skew": "span and log timestamps 90 min ahead",
    "clock-skew-back": "span and log timestamps 90 min behind",
    "span-name-prefix": "server spans named grpc.<package.Service/Method>",
    "reroot-unsampled": "an unsampled incoming parent is ignored: new sampled root",
    "no-fail": "Fail is not implemented (UNIMPLEMENTED)",
    "client-under-incoming": "Relay's client span is a child of the remote caller, not the server span",
    "tracestate-update-own": "outgoing tracestate: congo=updated moved to the front (legal)",
    "tracestate-reorder": "outgoing tracestate members reversed (illegal)",
    "no-otlp-logs": "no OTLP log records (stdout line still printed)",
    "export-twice": "every span batch is exported twice",
    "ignore-sigterm": "SIGTERM is ignored",
    "no-flush-on-exit": "SIGTERM exits 0 at once, without flushing",
    "otlp-http": "every signal over OTLP/HTTP protobuf, whatever OTEL_EXPORTER_OTLP_PROTOCOL says",
    "no-contract": "only grpc.health.v1 is served",
    "no-health": "no grpc.health.v1",
    "deadline-cancelled": "Sleep answers CANCELLED just before its deadline, as tonic's deadline layer does (legal)",
}
ACTIVE = {f.strip() for f in os.environ.get("BAD_TARGET_FAULTS", "").split(",") if f.strip()}

SERVICE = "conformance.v1.Conformance"
STDOUT_LOCK = threading.Lock()
SERVICE_VERSION = "1.0.0"
# Server span status is ERROR only for these (semconv docs/rpc/grpc.md, server side).
SERVER_ERRORS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
                 grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS}
CODES = {c.value[0]: c for c in grpc.StatusCode}
LEVELS = {pb.SEVERITY_DEBUG: "DEBUG", pb.SEVERITY_INFO: "INFO", pb.SEVERITY_WARN: "WARN",
          pb.SEVERITY_ERROR: "ERROR"}
SKEW_NS = 5400 * 10**9 * (("clock-skew" in ACTIVE) - ("clock-skew-back" in ACTIVE))


def now_ns() -> int:
    """The wall clock every span and log timestamp uses; skewed as a whole, so durations stay true."""
    return time.time_ns() + SKEW_NS


def rpc_attributes(method: str, code: grpc.StatusCode | None = None) -> dict:
    attributes = {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": method}
    if code is not None:
        attributes["rpc.grpc.status_code"] = code.value[0]
    return attributes


class Telemetry:
    """The three providers, exporting over OTLP as the standard OTEL_* variables say."""

    def __init__(self):
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        if "otlp-http" in ACTIVE or protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        elif protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            sys.exit(f"otel_target: OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported")
        # Resource.create merges in OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, which win.
        self.resource = Resource.create({"service.version": SERVICE_VERSION,
                                         "service.instance.id": str(uuid.uuid4())})
        # Exporters, batch delays, export interval and sampler all come from the environment.
        # shutdown_on_exit=False: shutdown() below is the one, bounded, shutdown.
        self.tracer_provider = TracerProvider(resource=self.resource, shutdown_on_exit=False)
        exporter = OTLPSpanExporter()
        if "export-twice" in ACTIVE:
            export = exporter.export
            exporter.export = lambda spans: (export(spans), export(spans))[-1]
        self.tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        self.meter_provider = MeterProvider(
            resource=self.resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())],
            shutdown_on_exit=False)
        self.logger_provider = None
        if "no-otlp-logs" not in ACTIVE:
            self.logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
            self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        self.tracer = self.tracer_provider.get_tracer("otel_target")
        meter = self.meter_provider.get_meter("otel_target")
        self.duration = meter.create_histogram("rpc.server.duration", unit="ms",
                                               description="Duration of inbound RPCs")
        self.client_duration = meter.create_histogram("rpc.client.duration", unit="ms",
                                                      description="Duration of outbound RPCs")
        meter.create_observable_counter("process.cpu.time", [_cpu_time], unit="s")
        meter.create_observable_up_down_counter("process.memory.usage", [_resident_bytes], unit="By")
        self.logger = self.logger_provider.get_logger("otel_target") if self.logger_provider else None
        self.service_name = self.resource.attributes.get("service.name", "")

    def shutdown(self, seconds: float) -> None:
        """Flush and stop all signals (each shutdown includes a ForceFlush), at most ``seconds``.

        The three run side by side and are abandoned at the deadline: an exporter that cannot
        reach its endpoint retries for its whole timeout, and one after another they would
        outlast the 10 s the contract gives for exiting after SIGTERM.
        """
        deadline = time.monotonic() + seconds
        workers = [threading.Thread(target=p.shutdown, daemon=True)
                   for p in (self.tracer_provider, self.meter_provider, self.logger_provider) if p]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


def incoming_context(metadata) -> otel_context.Context:
    """W3C context from gRPC metadata; repeated headers are joined as HTTP would join them."""
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            carrier[key] = f"{carrier[key]},{value}" if key in carrier else value
    return propagate.extract(carrier)


def final_code(context, failed: bool) -> grpc.StatusCode:
    """The status the call ends with, as far as the handler side can tell."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if not context.is_active():  # the deadline passed or the client cancelled (a stream's
        remaining = context.time_remaining()  # generator is then closed: that is no failure)
        return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 \
            else grpc.StatusCode.CANCELLED
    if failed:
        return grpc.StatusCode.UNKNOWN  # grpcio answers an uncaught exception with UNKNOWN
    return grpc.StatusCode.OK


def _cpu_time(options):
    times = os.times()
    yield Observation(times.user, {"cpu.mode": "user"})
    yield Observation(times.system, {"cpu.mode": "system"})


def _resident_bytes(options):
    with open("/proc/self/statm") as statm:
        yield Observation(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))


class ServerTracing(grpc.ServerInterceptor):
    """One SERVER span and one duration measurement per contract call."""

    def __init__(self, telemetry: Telemetry):
        self._t = telemetry

    @contextmanager
    def _traced(self, full_method: str, context):
        """Around one handler run: the SERVER span is current; then status, end, duration."""
        parent = incoming_context(context.invocation_metadata())
        remote = trace.get_current_span(parent).get_span_context()
        if "reroot-unsampled" in ACTIVE and remote.is_valid and not remote.trace_flags.sampled:
            # An invalid parent makes the parent-based sampler fall back to its root sampler.
            parent = trace.set_span_in_context(trace.INVALID_SPAN, parent)
        name = ("grpc." if "span-name-prefix" in ACTIVE else "") + full_method.lstrip("/")
        method = full_method.rpartition("/")[2]
        span = self._t.tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                                         attributes=rpc_attributes(method), start_time=now_ns())
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        started, failed = time.perf_counter(), False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            code = final_code(context, failed)
            otel_context.detach(token)
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in SERVER_ERRORS:
                details = context.details() or b""  # grpcio keeps an aborted call's details as bytes
                span.set_status(Status(StatusCode.ERROR, details.decode("utf-8", "replace")
                                       if isinstance(details, bytes) else details or None))
            span.end(end_time=now_ns())
            self._t.duration.record((time.perf_counter() - started) * 1000, rpc_attributes(method, code))

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(f"/{SERVICE}/"):
            return handler  # health checks and unknown methods are not traced
        full_method, traced = handler_call_details.method, self._traced

        def unary(behavior):
            def run(request, context):
                with traced(full_method, context):
                    return behavior(request, context)
            return run

        def streaming(behavior):
            def run(request, context):
                with traced(full_method, context):
                    yield from behavior(request, context)
            return run

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                unary(handler.unary_unary), handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                streaming(handler.unary_stream), handler.request_deserializer, handler.response_serializer)
        return handler  # the contract has no client-streaming methods


def outgoing_tracestate(header: str | None) -> str | None:
    """The tracestate to send downstream: unchanged, or as the tracestate-* faults change it."""
    members = [m.strip() for m in (header or "").split(",") if m.strip()]
    if "tracestate-update-own" in ACTIVE:
        # W3C §3.3.1.3: a vendor may update its own entry, which then moves to the front.
        members = ["congo=updated"] + [m for m in members if m.partition("=")[0] != "congo"]
    if "tracestate-reorder" in ACTIVE:
        members.reverse()
    return ",".join(members) or None


class Conformance(services.ConformanceServicer):
    def __init__(self, telemetry: Telemetry):
        self._t = telemetry
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def _stub(self, address: str):
        with self._lock:
            if address not in self._channels:
                self._channels[address] = grpc.insecure_channel(address)  # plain, uninstrumented
            return services.ConformanceStub(self._channels[address])

    def Echo(self, request, context):
        return pb.EchoResponse(payload=request.payload)

    def Fail(self, request, context):
        if "no-fail" in ACTIVE:
            return super().Fail(request, context)  # the generated base: UNIMPLEMENTED
        code = CODES.get(request.code)
        if code is None or code == grpc.StatusCode.OK:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Fail needs a non-OK code, got {request.code}")
        context.abort(code, request.message)

    def _call_echo(self, stub, host: str, port: int, payload: str, context) -> str:
        """One outgoing Echo inside its own CLIENT span, with the context injected."""
        parent = otel_context.get_current()  # the server span's context
        if "client-under-incoming" in ACTIVE:
            parent = incoming_context(context.invocation_metadata())  # the remote caller's span
        attributes = {**rpc_attributes("Echo"), "server.address": host, "server.port": port}
        span = self._t.tracer.start_span(f"{SERVICE}/Echo", context=parent, kind=SpanKind.CLIENT,
                                         attributes=attributes, start_time=now_ns())
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
        tracestate = outgoing_tracestate(carrier.pop("tracestate", None))
        if tracestate:
            carrier["tracestate"] = tracestate
        code, started = grpc.StatusCode.OK, time.perf_counter()
        try:
            return stub.Echo(pb.EchoRequest(payload=payload), metadata=tuple(carrier.items()),
                             timeout=context.time_remaining()).payload
        except grpc.RpcError as err:
            code = err.code()
            span.set_status(Status(StatusCode.ERROR, err.details()))  # client side: every non-OK
            raise
        finally:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            span.end(end_time=now_ns())
            self._t.client_duration.record((time.perf_counter() - started) * 1000, rpc_attributes("Echo", code))

    def Relay(self, request, context):
        stub = self._stub(request.downstream)
        host, _, port = request.downstream.rpartition(":")
        payloads = []
        for _ in range(max(1, request.calls)):
            try:
                payloads.append(self._call_echo(stub, host.strip("[]"), int(port), request.payload, context))
            except grpc.RpcError as err:
                context.abort(err.code(), f"downstream: {err.details()}")
        return pb.RelayResponse(payloads=payloads)

    def Log(self, request, context):
        timestamp = now_ns()
        level = LEVELS.get(request.severity, "INFO")
        attributes = dict(request.attributes)
        if self._t.logger is not None:
            self._t.logger.emit(timestamp=timestamp, observed_timestamp=timestamp,
                                context=otel_context.get_current(),
                                severity_number=SeverityNumber(request.severity), severity_text=level,
                                body=request.message, attributes=attributes)
        span_context = trace.get_current_span().get_span_context()
        valid = span_context.is_valid
        line = {
            "timestamp": datetime.fromtimestamp(timestamp / 1e9, timezone.utc)
                         .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "message": request.message,
            "trace_id": format(span_context.trace_id, "032x") if valid else "",
            "span_id": format(span_context.span_id, "016x") if valid else "",
            "service": self._t.service_name,
            "attributes": attributes,
        }
        with STDOUT_LOCK:  # one write per line: concurrent calls must not interleave lines
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        return pb.LogResponse()

    def Sleep(self, request, context):
        done = threading.Event()
        context.add_callback(done.set)  # runs when the call ends: cancelled or deadline passed
        wanted, remaining = request.duration_ms / 1000, context.time_remaining()
        if "deadline-cancelled" in ACTIVE and remaining is not None and remaining < wanted:
            # Answer before grpcio's own deadline handling can, so the client sees this answer.
            done.wait(max(remaining - 0.02, 0))
            context.abort(grpc.StatusCode.CANCELLED, "Timeout expired")
        done.wait(wanted)
        return pb.SleepResponse()

    def StreamEcho(self, request, context):
        for _ in range(request.count):
            yield pb.EchoResponse(payload=request.payload)


def main() -> int:
    unknown = sorted(ACTIVE - FAULTS.keys())
    if unknown:
        print(f"otel_target: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}",
              file=sys.stderr)
        return 2
    # The SDK's own baggage propagator form-encodes values and drops properties (BAG-002,
    # BAG-003), so this target uses the W3C propagators the Python references share.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "reference_services" / "python"))
    from w3c_propagation import install_propagators

    install_propagators()
    telemetry = Telemetry()
    # Room for the 8,192-byte baggage of BAG-001 (gRPC C-core's soft limit is 8 KiB in all).
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_metadata_size", 64 * 1024), ("grpc.absolute_max_metadata_size", 64 * 1024)],
                         interceptors=[ServerTracing(telemetry)])
    if "no-contract" not in ACTIVE:
        services.add_ConformanceServicer_to_server(Conformance(telemetry), server)
    health_servicer = health.HealthServicer()
    if "no-health" not in ACTIVE:
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"127.0.0.1:{os.environ.get('PORT', '50051')}"
    if server.add_insecure_port(address) == 0:
        print(f"otel_target: cannot bind {address}", file=sys.stderr)
        return 1

    stop = threading.Event()
    if "ignore-sigterm" in ACTIVE:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif "no-flush-on-exit" in ACTIVE:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # batched telemetry is lost
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=1).wait()
    telemetry.shutdown(seconds=7)  # with the grace above, well within the contract's 10 s
    return 0


if __name__ == "__main__":
    sys.exit(main())

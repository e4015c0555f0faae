"""Python (grpcio) reference service for the conformance suite.

Implements conformance.v1.Conformance and grpc.health.v1 on 127.0.0.1:$PORT, traced by
opentelemetry-instrumentation-grpc with the corrections in ``rpc_semconv``, and exports
traces, metrics and logs over OTLP/gRPC as configured by the standard OTEL_* variables.
"""
from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import client_interceptor, grpcext

import chain_mutants
import mutants
from rpc_semconv import ClientSemconvInterceptor, KindOverridingTracerProvider, ServerSemconvInterceptor
from telemetry import setup_telemetry, traced_server_interceptor

PROTO_DIR = Path(__file__).resolve().parents[2] / "conformance" / "proto"
sys.path.insert(0, str(PROTO_DIR))
pb, services = grpc.protos_and_services("conformance_v1.proto")  # generated in memory, never committed

# gRPC C-core refuses request metadata over 8 KiB at random (its soft limit), which would drop
# a baggage of the 8,192 bytes W3C Baggage requires to be propagated; these limits fit it.
METADATA_LIMITS = [("grpc.max_metadata_size", 64 * 1024), ("grpc.absolute_max_metadata_size", 64 * 1024)]
# Two instances handed the same port would otherwise share it silently and answer each
# other's calls.
EXCLUSIVE_PORT = [("grpc.so_reuseport", 0)]
# The contract allows 10 s from SIGTERM to exit; a shutdown still running after this long
# leaves every thread's stack on stderr, so a hang can be told from a slow flush.
SHUTDOWN_WATCHDOG_SECONDS = 8

log = logging.getLogger("conformance.reference")
log.setLevel(logging.DEBUG)  # Log may ask for any severity; the root logger stays at INFO for libraries
LEVELS = {pb.SEVERITY_DEBUG: logging.DEBUG, pb.SEVERITY_INFO: logging.INFO,
          pb.SEVERITY_WARN: logging.WARNING, pb.SEVERITY_ERROR: logging.ERROR}
CODES = {c.value[0]: c for c in grpc.StatusCode}
EARLY_END_MUTANTS = {"deadline-recorded-ok": frozenset({grpc.StatusCode.DEADLINE_EXCEEDED}),
                     "cancel-recorded-ok": frozenset({grpc.StatusCode.CANCELLED})}


class Conformance(services.ConformanceServicer):
    def __init__(self, mutant: str | None):
        self._mutant = mutant
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def _downstream(self, address: str):
        with self._lock:
            if address not in self._channels:
                channel = grpc.insecure_channel(address)
                if self._mutant != "stock":
                    # Inside the stock interceptor, so its client span is current.
                    channel = grpc.intercept_channel(
                        channel, ClientSemconvInterceptor(metrics.get_meter(__name__), address,
                                                          record_duration=self._mutant != "no-client-metric"))
                self._channels[address] = grpcext.intercept_channel(channel, client_interceptor())
            return services.ConformanceStub(self._channels[address])

    def Echo(self, request, context):
        return pb.EchoResponse(payload=request.payload)

    def Fail(self, request, context):
        _end_with(context, "Fail", request.code, "" if self._mutant == "drop-status-message" else request.message)

    def Relay(self, request, context):
        stub = self._downstream(request.downstream)
        payloads = [_call_downstream(stub.Echo, pb.EchoRequest(payload=request.payload), context).payload
                    for _ in range(max(1, request.calls))]
        return pb.RelayResponse(payloads=payloads)

    def Log(self, request, context):
        level = LEVELS.get(request.severity, logging.INFO)
        log.log(level, request.message, extra={"otel_attributes": dict(request.attributes)})
        return pb.LogResponse()

    def Sleep(self, request, context):
        # Ends early when the call is cancelled or its deadline passes.
        done = threading.Event()
        context.add_callback(done.set)
        done.wait(request.duration_ms / 1000)
        return pb.SleepResponse()

    def StreamEcho(self, request, context):
        for _ in range(request.count):
            yield pb.EchoResponse(payload=request.payload)

    def Chain(self, request, context):
        # Relay's client and Log's logger, so a hop's spans, record and outgoing context
        # (mutants included) are exactly what those methods would produce.
        if request.log_message:
            log.info(request.log_message)
        if request.fail_code:
            _end_with(context, "Chain", request.fail_code, "chain failure")
        if not request.next:
            return pb.ChainResponse(payload=request.payload)
        hop, rest = request.next[0], request.next[1:]
        stub = self._downstream(hop.address)
        with chain_mutants.around_outgoing_call(self._mutant):
            if rest:
                answer = _call_downstream(stub.Chain, pb.ChainRequest(
                    payload=request.payload, fail_code=hop.fail_code, log_message=hop.log_message, next=rest),
                    context)
            else:  # the last entry is the suite's downstream, which need not implement Chain
                answer = _call_downstream(stub.Echo, pb.EchoRequest(payload=request.payload), context)
        return pb.ChainResponse(payload=answer.payload)


def _end_with(context, method: str, code_number: int, message: str):
    """Ends the call with status ``code_number``; one that is no error is the caller's mistake."""
    code = CODES.get(code_number)
    if code is None or code == grpc.StatusCode.OK:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{method} needs a non-OK code, got {code_number}")
    context.abort(code, message)


def _call_downstream(method, request, context):
    """An outgoing call within what is left of this call's deadline. Its failure ends this call
    with the same code, so a status travels back up a chain of services unchanged."""
    try:
        return method(request, timeout=context.time_remaining())
    except grpc.RpcError as err:
        context.abort(err.code(), f"downstream: {err.details()}")


def server_credentials() -> grpc.ServerCredentials | None:
    """TLS as the target contract's CONFORMANCE_TLS_* variables ask (PEM files): a certificate
    and key to serve with, and a CA whose client certificates it then requires (mTLS)."""
    cert, key = os.environ.get("CONFORMANCE_TLS_CERT"), os.environ.get("CONFORMANCE_TLS_KEY")
    if not cert or not key:
        return None
    client_ca = os.environ.get("CONFORMANCE_TLS_CLIENT_CA")
    return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())],
                                       root_certificates=Path(client_ca).read_bytes() if client_ca else None,
                                       require_client_auth=bool(client_ca))


class TerminationSignals:
    """Waits for SIGTERM or SIGINT, whichever thread the kernel hands it to.

    CPython runs a Python signal handler in the main thread only, while the kernel may hand a
    process's signal to any of gRPC's or the SDK's threads; a main thread asleep on a lock
    would then sleep through it. The wakeup fd is written by whichever thread took it.
    Install from the main thread, before any server thread exists.
    """

    WANTED = frozenset({signal.SIGTERM, signal.SIGINT})

    def __init__(self):
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for sig in self.WANTED:
            signal.signal(sig, lambda *_: None)  # replaces the default action; the fd does the rest

    def wait(self) -> None:
        while self._reader.recv(1)[0] not in self.WANTED:
            pass


def serve() -> int:
    # Before any server thread exists, so no SIGTERM can meet the default action.
    termination = TerminationSignals()
    mutant = mutants.active()
    telemetry = setup_telemetry(mutant)
    tracer_provider = trace.get_tracer_provider()
    if mutant == "wrong-span-kind":
        tracer_provider = KindOverridingTracerProvider(tracer_provider)
    interceptors = [traced_server_interceptor(tracer_provider=tracer_provider)]
    if mutant != "stock":
        interceptors.append(ServerSemconvInterceptor(
            metrics.get_meter(__name__),
            duration_name="rpc.server.latency" if mutant == "metric-renamed" else "rpc.server.duration",
            errors_as_ok=mutant == "error-status-ok", status_attribute_ok=mutant == "status-attr-ok",
            early_end_as_ok=EARLY_END_MUTANTS.get(mutant, frozenset()),
            span_per_message=mutant == "span-per-stream-message", metric_code_ok=mutant == "metric-code-ok",
            per_second=1.0 if mutant == "duration-seconds-under-ms" else 1000.0,
            records_per_call=2 if mutant == "duration-recorded-twice" else 1,
            metadata_as_attributes=mutant == "metadata-as-attributes"))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=interceptors,
                         options=METADATA_LIMITS + EXCLUSIVE_PORT)
    services.add_ConformanceServicer_to_server(Conformance(mutant), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"127.0.0.1:{os.environ.get('PORT', '50051')}"
    credentials = server_credentials()
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        print(f"cannot bind {address}", file=sys.stderr)
        return 1
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"otel_attributes": {"address": address, "mutant": mutant or ""}})

    termination.wait()
    if mutant == "no-flush-on-exit":
        os._exit(0)
    faulthandler.dump_traceback_later(SHUTDOWN_WATCHDOG_SECONDS, exit=False)
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(serve())

"""Brings opentelemetry-instrumentation-grpc up to the seed's RPC conventions.

Measured with opentelemetry-instrumentation-grpc 0.66b2, the stock interceptors
- name spans after the raw gRPC path, with a leading '/' (semconv: ``package.Service/Method``),
- record no RPC metrics at all (semconv: ``rpc.server.duration`` / ``rpc.client.duration``),
- put no ``server.address``/``server.port`` on client spans.
These interceptors run *inside* the stock ones, where the stock span is the current span,
and correct exactly that; everything else (context extraction and injection, kinds, status
attributes and span status) stays the stock instrumentation's work.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import grpc
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

SERVER_DURATION = "rpc.server.duration"
CLIENT_DURATION = "rpc.client.duration"


def _split(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def _attributes(full_method: str, code: grpc.StatusCode) -> dict:
    service, method = _split(full_method)
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
            "rpc.grpc.status_code": code.value[0]}


def _code_of(context) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK


# The server-fault codes (semconv docs/rpc/grpc.md) that make a server span an error.
_SERVER_ERRORS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
                  grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS}


def _ended_early(context) -> grpc.StatusCode | None:
    """How a call the handler was still serving ended without it: past its deadline, or
    cancelled by the client. The stock interceptor records such a call as OK."""
    if context.is_active():
        return None
    remaining = context.time_remaining()
    return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 \
        else grpc.StatusCode.CANCELLED


class ServerSemconvInterceptor(grpc.ServerInterceptor):
    def __init__(self, meter, duration_name: str = SERVER_DURATION, errors_as_ok: bool = False,
                 status_attribute_ok: bool = False, early_end_as_ok: frozenset = frozenset(),
                 span_per_message: bool = False, metric_code_ok: bool = False, per_second: float = 1000.0,
                 records_per_call: int = 1, metadata_as_attributes: bool = False):
        self._duration = meter.create_histogram(duration_name, unit="ms",
                                                description="Duration of inbound RPCs")
        self._errors_as_ok = errors_as_ok  # mutant "error-status-ok"
        self._status_attribute_ok = status_attribute_ok  # mutant "status-attr-ok"
        self._early_end_as_ok = early_end_as_ok  # mutants "deadline-recorded-ok", "cancel-recorded-ok"
        self._span_per_message = span_per_message  # mutant "span-per-stream-message"
        self._metric_code_ok = metric_code_ok  # mutant "metric-code-ok"
        self._per_second = per_second  # 1 in mutant "duration-seconds-under-ms"
        self._records_per_call = records_per_call  # 2 in mutant "duration-recorded-twice"
        self._metadata_as_attributes = metadata_as_attributes  # mutant "metadata-as-attributes"

    def _finish(self, span, full_method: str, started: float, code: grpc.StatusCode, context) -> None:
        early = _ended_early(context)
        if early is not None and early not in self._early_end_as_ok:
            code = early
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in _SERVER_ERRORS:
                span.set_status(Status(StatusCode.ERROR, "the call's deadline passed while it was served"))
        for _ in range(self._records_per_call):
            self._duration.record((time.perf_counter() - started) * self._per_second,
                                  _attributes(full_method, grpc.StatusCode.OK if self._metric_code_ok else code))
        if self._errors_as_ok and code != grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.OK))
        if self._status_attribute_ok:
            span.set_attribute("rpc.grpc.status_code", 0)

    @contextmanager
    def _observed(self, full_method: str, context):
        """Around one handler run, inside the stock span: fix its name, time the call, and
        record a deadline or cancellation that ended the call before the handler did."""
        span = trace.get_current_span()
        span.update_name(full_method.lstrip("/"))
        if self._metadata_as_attributes:  # every key, where semconv wants an explicit allowlist
            for key, value in context.invocation_metadata():
                if isinstance(value, str):
                    span.set_attribute(f"rpc.grpc.request.metadata.{key}", [value])
        started = time.perf_counter()
        try:
            yield
        except GeneratorExit:  # grpcio closes a stream's generator when the call is cancelled
            self._finish(span, full_method, started, grpc.StatusCode.CANCELLED, context)
            raise
        except Exception:
            code = _code_of(context)
            self._finish(span, full_method, started,
                         grpc.StatusCode.UNKNOWN if code == grpc.StatusCode.OK else code, context)
            raise
        self._finish(span, full_method, started, _code_of(context), context)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        full_method = handler_call_details.method
        observed, per_message = self._observed, self._span_per_message

        def unary(behavior):
            def run(request, context):
                with observed(full_method, context):
                    return behavior(request, context)
            return run

        def streaming(behavior):
            def run(request, context):
                with observed(full_method, context):
                    for message in behavior(request, context):
                        if per_message:
                            trace.get_tracer(__name__).start_span(
                                full_method.lstrip("/"), kind=trace.SpanKind.SERVER).end()
                        yield message
            return run

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                unary(handler.unary_unary), handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                streaming(handler.unary_stream), handler.request_deserializer, handler.response_serializer)
        return handler  # the contract has no client-streaming methods


class ClientSemconvInterceptor(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, meter, target: str, record_duration: bool = True):
        self._duration = meter.create_histogram(CLIENT_DURATION, unit="ms",
                                                description="Duration of outbound RPCs")
        host, _, port = target.rpartition(":")
        self._address, self._port = host.strip("[]"), int(port)
        self._record_duration = record_duration  # False in mutant "no-client-metric"

    def intercept_unary_unary(self, continuation, client_call_details, request):
        span = trace.get_current_span()
        span.update_name(client_call_details.method.lstrip("/"))
        span.set_attribute("server.address", self._address)
        span.set_attribute("server.port", self._port)
        started = time.perf_counter()
        outcome = continuation(client_call_details, request)
        code = outcome.code() if outcome.code() is not None else grpc.StatusCode.OK
        if self._record_duration:
            self._duration.record((time.perf_counter() - started) * 1000,
                                  _attributes(client_call_details.method, code))
        return outcome


class _KindOverridingTracer:
    """Mutant "wrong-span-kind": every span the wrapped tracer starts is INTERNAL."""

    def __init__(self, tracer):
        self._tracer = tracer

    def start_as_current_span(self, name, context=None, kind=None, **kwargs):
        return self._tracer.start_as_current_span(name, context, trace.SpanKind.INTERNAL, **kwargs)

    def __getattr__(self, attr):
        return getattr(self._tracer, attr)


class KindOverridingTracerProvider:
    def __init__(self, provider):
        self._provider = provider

    def get_tracer(self, *args, **kwargs):
        return _KindOverridingTracer(self._provider.get_tracer(*args, **kwargs))

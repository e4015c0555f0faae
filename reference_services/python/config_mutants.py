"""Configuration and exporter mutants: each ignores one standard OTEL_* variable, or gets one
exporter rule wrong, the way real services do (a variable dropped by a hand-built setup, a
retry policy that retries everything)."""
from __future__ import annotations

import os

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

MUTANTS = {
    "ignore-resource-attributes": "OTEL_RESOURCE_ATTRIBUTES is not read",
    "resource-attributes-over-service-name": "a service.name in OTEL_RESOURCE_ATTRIBUTES wins over OTEL_SERVICE_NAME",
    "ignore-propagators": "OTEL_PROPAGATORS is not read: tracecontext and baggage always",
    "first-propagator-only": "only the first propagator OTEL_PROPAGATORS lists is installed",
    "ignore-sdk-disabled": "OTEL_SDK_DISABLED is not read",
    "ignore-sampler": "OTEL_TRACES_SAMPLER is not read: parentbased_always_on always",
    "ignore-sampler-ratio": "OTEL_TRACES_SAMPLER_ARG is not read: ratio 1.0",
    "parent-ignored-by-ratio": "parentbased_traceidratio is applied as traceidratio, ignoring the parent",
    "ignore-protocol": "OTEL_EXPORTER_OTLP_PROTOCOL is not read: OTLP/gRPC always",
    "ignore-signal-endpoint": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not read",
    "ignore-exporter-headers": "OTEL_EXPORTER_OTLP_HEADERS is not read",
    "ignore-compression": "OTEL_EXPORTER_OTLP_COMPRESSION is not read",
    "ignore-client-certificate": "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY are not read",
    "no-export-retry": "the span exporter retries nothing",
    "retry-everything": "the span exporter retries every refusal, INVALID_ARGUMENT included",
    "retry-partial-success": "the span exporter sends a request again when the answer is a partial success",
}

_IGNORED = {
    "ignore-resource-attributes": ("OTEL_RESOURCE_ATTRIBUTES",),
    "ignore-propagators": ("OTEL_PROPAGATORS",),
    "ignore-sdk-disabled": ("OTEL_SDK_DISABLED",),
    "ignore-sampler": ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"),
    "ignore-sampler-ratio": ("OTEL_TRACES_SAMPLER_ARG",),
    "ignore-protocol": ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    "ignore-signal-endpoint": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
    "ignore-exporter-headers": ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    "ignore-compression": ("OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"),
    "ignore-client-certificate": ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
}


def apply_to_environment(mutant: str | None) -> None:
    """Before any SDK object reads the environment: forget the variable the mutant ignores."""
    for name in _IGNORED.get(mutant, ()):
        os.environ.pop(name, None)
    if mutant == "first-propagator-only" and "," in os.environ.get("OTEL_PROPAGATORS", ""):
        os.environ["OTEL_PROPAGATORS"] = os.environ["OTEL_PROPAGATORS"].split(",")[0]
    if mutant == "parent-ignored-by-ratio" and os.environ.get("OTEL_TRACES_SAMPLER") == "parentbased_traceidratio":
        os.environ["OTEL_TRACES_SAMPLER"] = "traceidratio"


def service_name_overridden(mutant: str | None, resource):
    """resource-attributes-over-service-name: re-apply the service.name OTEL_RESOURCE_ATTRIBUTES gives."""
    if mutant != "resource-attributes-over-service-name":
        return resource
    from opentelemetry.sdk.resources import Resource

    pairs = dict(p.split("=", 1) for p in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if "=" in p)
    return resource.merge(Resource({"service.name": pairs["service.name"]})) if "service.name" in pairs else resource


def grpc_span_exporter_options(mutant: str | None) -> dict:
    if mutant == "no-export-retry":
        # No refusal has code OK; and the channel's own retries off, which would otherwise
        # resend a call whose connection was cut before any answer.
        return {"retryable_error_codes": frozenset({grpc.StatusCode.OK}), "channel_options": (("grpc.enable_retries", 0),)}
    if mutant == "retry-everything":
        return {"retryable_error_codes": frozenset(c for c in grpc.StatusCode if c != grpc.StatusCode.OK)}
    return {}


class _ResendPartialSuccess(grpc.UnaryUnaryClientInterceptor):
    def intercept_unary_unary(self, continuation, details, request):
        outcome = continuation(details, request)
        if outcome.exception() is None and outcome.result().partial_success.rejected_spans:
            return continuation(details, request)
        return outcome


def partial_success_resent(exporter_class):
    """retry-partial-success: the exporter's stub goes through an interceptor that resends."""

    class Resending(exporter_class):
        def _initialize_channel_and_stub(self):
            super()._initialize_channel_and_stub()
            self._client = TraceServiceStub(grpc.intercept_channel(self._channel, _ResendPartialSuccess()))

    return Resending

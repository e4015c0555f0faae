"""OpenTelemetry setup of the Python reference: traces, metrics and logs over OTLP/gRPC.

Everything is configured by the standard OTEL_* variables, which the SDK reads itself
(endpoint, protocol, service name, resource attributes, batch and export intervals,
sampler). This module only adds what the seed requires of a service on top:
service.version and service.instance.id, log lines on stdout in the seed's JSON shape
that carry the active trace context, and W3C Trace Context / Baggage propagators of its
own (chosen by OTEL_PROPAGATORS) where the SDK's and the grpc instrumentation's differ
from the W3C rules.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from opentelemetry import _logs, context as otel_context, metrics, propagate, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.instrumentation.grpc import server_interceptor
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SERVICE_VERSION = "1.0.0"

_SEVERITY = {logging.DEBUG: SeverityNumber.DEBUG, logging.INFO: SeverityNumber.INFO,
             logging.WARNING: SeverityNumber.WARN, logging.ERROR: SeverityNumber.ERROR,
             logging.CRITICAL: SeverityNumber.FATAL}


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    resource: Resource

    def shutdown(self) -> None:
        """Flush and stop all three signals (shutdown includes ForceFlush)."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


class OtlpLogHandler(logging.Handler):
    """Sends stdlib log records through the OTel Logs API with the active context."""

    def __init__(self, logger_provider: LoggerProvider, mutant: str | None = None):
        super().__init__()
        self._logger = logger_provider.get_logger("reference_services.python")
        self._drop_context = mutant == "log-without-context"
        # Mutants: WARNING recorded as INFO; the timestamp in microseconds where OTLP wants nanoseconds.
        self._severity = _SEVERITY | ({logging.WARNING: SeverityNumber.INFO} if mutant == "severity-shifted" else {})
        self._per_second = 1e6 if mutant == "log-time-in-microseconds" else 1e9

    def emit(self, record: logging.LogRecord) -> None:
        # An empty Context would be falsy and the SDK would fall back to the current one.
        ctx = (trace.set_span_in_context(trace.INVALID_SPAN) if self._drop_context
               else otel_context.get_current())
        self._logger.emit(
            timestamp=int(record.created * self._per_second),
            context=ctx,
            severity_number=self._severity.get(record.levelno, SeverityNumber.INFO),
            severity_text=record.levelname,
            body=record.getMessage(),
            attributes=getattr(record, "otel_attributes", {}) or {},
        )


class SeedJsonFormatter(logging.Formatter):
    """The seed's log line: timestamp, level, message, trace_id, span_id, service, attributes."""

    def __init__(self, service: str):
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        valid = span_context.is_valid
        return json.dumps({
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "message": record.getMessage(),
            "trace_id": format(span_context.trace_id, "032x") if valid else "",
            "span_id": format(span_context.span_id, "016x") if valid else "",
            "service": self._service,
            "attributes": getattr(record, "otel_attributes", {}) or {},
        })


def _over_http(signal: str) -> bool:
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    return (protocol or "grpc").strip() == "http/protobuf"


def _span_exporter(mutant: str | None):
    if _over_http("TRACES"):
        return HttpSpanExporter()
    exporter_class = (config_mutants.partial_success_resent(OTLPSpanExporter) if mutant == "retry-partial-success"
                      else OTLPSpanExporter)
    return exporter_class(**config_mutants.grpc_span_exporter_options(mutant))


def setup_telemetry(mutant: str | None = None) -> Telemetry:
    # OTEL_EXPORTER_OTLP_PROTOCOL picks each signal's exporter (the Python SDK has no
    # OTLP/JSON exporter; http/json is not supported). The SDK reads everything else itself.
    config_mutants.apply_to_environment(mutant)
    identity = {"service.version": SERVICE_VERSION, "service.instance.id": str(uuid.uuid4())}
    if mutant == "no-service-version":
        del identity["service.version"]
    # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME are merged in by Resource.create and win.
    resource = Resource.create(identity)
    if mutant == "ignore-service-name":
        resource = resource.merge(Resource({"service.name": "hard-coded-name"}))

    resource = config_mutants.service_name_overridden(mutant, resource)

    tracer_provider = TracerProvider(resource=resource)
    if mutant == "wrong-rpc-system":
        tracer_provider.add_span_processor(_AttributeOverride())
    span_exporter = _span_exporter(mutant)
    if mutant in SPAN_REWRITES:
        span_exporter = RewritingExporter(span_exporter, SPAN_REWRITES[mutant])
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)

    # A provider built with a resource of its own (no service.version), beside the shared one.
    meter_resource = Resource.create({"service.instance.id": identity["service.instance.id"]}) \
        if mutant == "metrics-resource-differs" else resource
    metric_exporter = HttpMetricExporter() if _over_http("METRICS") else OTLPMetricExporter()
    if mutant == "delta-labelled-cumulative":
        metric_exporter = DeltaLabelledCumulative(metric_exporter)
    meter_provider = MeterProvider(resource=meter_resource,
                                   metric_readers=[PeriodicExportingMetricReader(metric_exporter)])
    metrics.set_meter_provider(meter_provider)
    instrument_process_metrics(meter_provider)

    log_resource = resource
    if mutant == "log-foreign-resource":
        log_resource = resource.merge(Resource({"service.name": "some-other-service"}))
    logger_provider = LoggerProvider(resource=log_resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        HttpLogExporter() if _over_http("LOGS") else OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(OtlpLogHandler(logger_provider, mutant))
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(SeedJsonFormatter(resource.attributes.get("service.name", "")))
    root.addHandler(stdout)

    install_propagators()
    if mutant in W3C_MUTANTS:
        propagate.set_global_textmap(MutantW3CPropagator(propagate.get_global_textmap(), mutant))
    if mutant in ("drop-incoming-context", "no-outgoing-inject", "invent-parent"):
        propagate.set_global_textmap(_MutantPropagator(propagate.get_global_textmap(), mutant))
    return Telemetry(tracer_provider, meter_provider, logger_provider, resource)


# The W3C propagators both Python references share (w3c_propagation.py, beside this file).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import config_mutants  # noqa: E402
from metric_mutants import DeltaLabelledCumulative  # noqa: E402
from process_metrics import instrument_process_metrics  # noqa: E402
from span_mutants import SPAN_REWRITES, RewritingExporter  # noqa: E402
from w3c_mutants import MUTANTS as W3C_MUTANTS, MutantW3CPropagator  # noqa: E402
from w3c_propagation import build_propagator, install_propagators  # noqa: E402,F401 (build_propagator: tests)


class GrpcMetadataGetter(Getter):
    """grpcio invocation metadata, a sequence of (key, value), with every value of a key."""

    def get(self, carrier, key):
        key = key.lower()
        found = [v for k, v in carrier if isinstance(v, str) and k.lower() == key]
        return found or None

    def keys(self, carrier):
        return list(dict.fromkeys(k for k, _ in carrier))


GRPC_METADATA_GETTER = GrpcMetadataGetter()


def traced_server_interceptor(tracer_provider=None):
    """opentelemetry-instrumentation-grpc's server interceptor, extracting from every metadata value.

    As shipped (0.66b2) it turns the metadata into a dict before extracting, so of several
    tracestate or baggage fields only the last one is seen.
    """
    interceptor = server_interceptor(tracer_provider=tracer_provider)
    if not callable(getattr(interceptor, "_set_remote_context", None)):
        # Fail loudly rather than silently fall back to the lossy carrier.
        raise RuntimeError("opentelemetry-instrumentation-grpc no longer has "
                           "_set_remote_context; revisit traced_server_interceptor")
    interceptor._set_remote_context = _attach_remote_context
    return interceptor


@contextmanager
def _attach_remote_context(servicer_context):
    metadata = servicer_context.invocation_metadata()
    if not metadata:
        yield
        return
    token = otel_context.attach(propagate.extract(metadata, getter=GRPC_METADATA_GETTER))
    try:
        yield
    finally:
        otel_context.detach(token)


class _MutantPropagator:
    """Mutant support: a propagator that breaks extraction or injection on purpose."""

    def __init__(self, inner, mutant: str):
        self._inner, self._mutant = inner, mutant

    def extract(self, carrier, context=None, getter=None):
        if self._mutant == "drop-incoming-context":
            return context if context is not None else otel_context.Context()
        extracted = self._inner.extract(carrier, context=context, **({"getter": getter} if getter else {}))
        if self._mutant == "invent-parent" and not trace.get_current_span(extracted).get_span_context().is_valid:
            made_up = trace.SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True,
                                        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
            extracted = trace.set_span_in_context(trace.NonRecordingSpan(made_up), extracted)
        return extracted

    def inject(self, carrier, context=None, setter=None):
        if self._mutant != "no-outgoing-inject":
            self._inner.inject(carrier, context=context, **({"setter": setter} if setter else {}))

    @property
    def fields(self):
        return self._inner.fields


class _AttributeOverride(SpanProcessor):
    """Mutant support: a wrong rpc.system on every server span."""

    def on_start(self, span, parent_context=None):
        if span.kind is trace.SpanKind.SERVER:
            span.set_attribute("rpc.system", "grpc-python")

    def on_end(self, span):
        pass

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis: int = 30000):
        return True

"""The service's one telemetry setup: resource, the three SDK providers with
OTLP exporters, and the logging pipeline (OTel LoggingHandler + JSON lines on
stdout), and the W3C Trace Context / Baggage propagators chosen by
OTEL_PROPAGATORS.  Configuration comes only from the standard OTEL_* variables.

    handle = setup_telemetry(service_version="1.0.0")
    ...
    handle.shutdown()   # flushes and shuts down traces, metrics and logs
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from opentelemetry import metrics, propagate, trace
from opentelemetry import _logs as otel_logs

APP_LOGGER_NAME = "conformance.target"
# record attribute carrying the requested log attributes (any key is allowed,
# including ones that clash with logging.LogRecord's own fields)
ATTRIBUTES_FIELD = "otel_log_attributes"
# Python level used for SEVERITY_UNSPECIFIED (OTel maps levelno < 10 to 0)
UNSPECIFIED_LEVEL = 1
logging.addLevelName(UNSPECIFIED_LEVEL, "UNSPECIFIED")

_LEVEL_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _sdk_disabled() -> bool:
    return _env("OTEL_SDK_DISABLED").lower() == "true"


def _protocol(signal: str) -> str:
    return (_env(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc").lower()


def _exporters(signal: str):
    """OTLP exporter for one signal ('TRACES', 'METRICS', 'LOGS'), configured
    from the standard environment variables by the exporter itself."""
    proto = _protocol(signal)
    if proto == "http/protobuf":
        try:
            if signal == "TRACES":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as E
            elif signal == "METRICS":
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as E
            else:
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as E
            return E()
        except ImportError:
            print("opentelemetry-exporter-otlp-proto-http is not installed; "
                  "falling back to OTLP/gRPC", file=sys.stderr)
    elif proto != "grpc":
        print(f"OTEL_EXPORTER_OTLP_PROTOCOL={proto} is not supported by the Python SDK; "
              "using OTLP/gRPC", file=sys.stderr)
    if signal == "TRACES":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter()
    if signal == "METRICS":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    return OTLPLogExporter()


def build_resource(service_version: str):
    """service.name from OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES (SDK rules), plus the
    service's own service.version and service.instance.id, which win over the environment:
    OTEL_RESOURCE_ATTRIBUTES is the secondary resource (resource/sdk.md)."""
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.version": service_version, "service.instance.id": str(uuid.uuid4())})


class JsonLineFormatter(logging.Formatter):
    """The seed's stdout shape: timestamp, level, message, trace_id, span_id,
    service, attributes.  trace_id/span_id come from the active span."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        span_ctx = trace.get_current_span().get_span_context()
        valid = span_ctx.is_valid
        ts = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        attributes = getattr(record, ATTRIBUTES_FIELD, None) or {}
        return json.dumps(
            {
                "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
                "level": _LEVEL_TEXT.get(record.levelname, record.levelname),
                "message": record.getMessage(),
                "trace_id": format(span_ctx.trace_id, "032x") if valid else "",
                "span_id": format(span_ctx.span_id, "016x") if valid else "",
                "service": self._service,
                "attributes": {str(k): str(v) for k, v in attributes.items()},
            },
            ensure_ascii=False,
        )


def _otel_logging_handler(logger_provider: Any) -> logging.Handler:
    from opentelemetry.sdk._logs import LoggingHandler

    class _Handler(LoggingHandler):
        """LoggingHandler whose attributes come from ATTRIBUTES_FIELD as well
        as from `extra`, so any attribute key can be logged."""

        @staticmethod
        def _get_attributes(record: logging.LogRecord):  # type: ignore[override]
            attributes = dict(LoggingHandler._get_attributes(record))
            requested = attributes.pop(ATTRIBUTES_FIELD, None) or {}
            attributes.update({str(k): str(v) for k, v in requested.items()})
            return attributes

    with warnings.catch_warnings():
        # the SDK's LoggingHandler is deprecated in favour of
        # opentelemetry-instrumentation-logging; it is still the SDK's handler.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _Handler(level=logging.NOTSET, logger_provider=logger_provider)


@dataclass
class TelemetryHandle:
    resource: Any
    service_name: str
    tracer_provider: Optional[Any] = None
    meter_provider: Optional[Any] = None
    logger_provider: Optional[Any] = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(APP_LOGGER_NAME))
    _handlers: List[logging.Handler] = field(default_factory=list)
    _shut: bool = False

    def shutdown(self, timeout_millis: int = 5000) -> None:
        """Flush then shut down all three providers (idempotent)."""
        if self._shut:
            return
        self._shut = True
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is None:
                continue
            try:
                provider.force_flush(timeout_millis=timeout_millis)
            except Exception as exc:  # noqa: BLE001 - keep flushing the others
                print(f"telemetry flush failed: {exc!r}", file=sys.stderr)
        for provider in (self.tracer_provider, self.logger_provider):
            if provider is not None:
                try:
                    provider.shutdown()
                except Exception as exc:  # noqa: BLE001
                    print(f"telemetry shutdown failed: {exc!r}", file=sys.stderr)
        if self.meter_provider is not None:
            try:
                self.meter_provider.shutdown(timeout_millis=timeout_millis)
            except Exception as exc:  # noqa: BLE001
                print(f"telemetry shutdown failed: {exc!r}", file=sys.stderr)
        for handler in self._handlers:
            handler.flush()


def setup_telemetry(service_version: str = "1.0.0") -> TelemetryHandle:
    """Install the global tracer, meter and logger providers and the app
    logger.  With OTEL_SDK_DISABLED=true only the stdout JSON logging is set
    up (the API's no-op providers stay in place)."""
    from opentelemetry.sdk.resources import Resource

    disabled = _sdk_disabled()
    resource = build_resource(service_version) if not disabled else Resource.create()
    service_name = str(resource.attributes.get("service.name", ""))
    handle = TelemetryHandle(resource=resource, service_name=service_name)
    # Context propagation works without the SDK too (the API's spans carry it through).
    install_propagators()
    mutant = os.environ.get("CONFORMANCE_MUTANT")
    if mutant:  # a deliberately broken propagation, to prove a check can fail (w3c_mutants.py)
        if mutant not in W3C_MUTANTS:
            raise SystemExit(f"unknown CONFORMANCE_MUTANT {mutant!r}; known: {', '.join(W3C_MUTANTS)}")
        propagate.set_global_textmap(MutantW3CPropagator(propagate.get_global_textmap(), mutant))
        if mutant == "first-traceparent-wins":
            import grpclib_otel

            grpclib_otel.REPEATED_TRACEPARENT_INVALID = False

    if not disabled:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # sampler from OTEL_TRACES_SAMPLER(_ARG), BSP/BLRP/metric interval
        # from their OTEL_* variables: the SDK reads them itself.
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(_exporters("TRACES")))
        trace.set_tracer_provider(tracer_provider)

        reader = PeriodicExportingMetricReader(_exporters("METRICS"))
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meter_provider)
        instrument_process_metrics(meter_provider)

        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(_exporters("LOGS")))
        otel_logs.set_logger_provider(logger_provider)

        handle.tracer_provider = tracer_provider
        handle.meter_provider = meter_provider
        handle.logger_provider = logger_provider

    # application logger: JSON lines on stdout + OTLP through LoggingHandler
    logger = logging.getLogger(APP_LOGGER_NAME)
    logger.setLevel(UNSPECIFIED_LEVEL)
    logger.propagate = False
    stdout_handler = logging.StreamHandler(sys.stdout)
    stdout_handler.setFormatter(JsonLineFormatter(service_name))
    logger.addHandler(stdout_handler)
    handle._handlers.append(stdout_handler)
    if handle.logger_provider is not None:
        logger.addHandler(_otel_logging_handler(handle.logger_provider))
    handle.logger = logger

    # everything else (grpclib, SDK diagnostics) goes to stderr
    if not logging.getLogger().handlers:
        stderr_handler = logging.StreamHandler(sys.stderr)
        stderr_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(stderr_handler)
        logging.getLogger().setLevel(logging.WARNING)
    return handle


def log_with_attributes(logger: logging.Logger, level: int, message: str,
                        attributes: Dict[str, str]) -> None:
    """Emit one record with arbitrary string attributes."""
    logger.log(level, "%s", message, extra={ATTRIBUTES_FIELD: dict(attributes)})


# The W3C propagators and process metrics both Python references share (reference_services/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from w3c_mutants import MUTANTS as W3C_MUTANTS, MutantW3CPropagator  # noqa: E402
from process_metrics import instrument_process_metrics  # noqa: E402
from w3c_propagation import build_propagator, install_propagators  # noqa: E402,F401 (build_propagator: tests)

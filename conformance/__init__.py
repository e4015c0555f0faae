"""Conformance suite for OpenTelemetry-instrumented gRPC services (import name ``otelconform``)."""
__version__ = "0.1.0"

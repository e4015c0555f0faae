"""Conformance suite for OpenTelemetry-instrumented gRPC services (import name ``otelconform``).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
__version__ = "0.1.0"

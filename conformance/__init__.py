"""Conformance suite for OpenTelemetry-instrumented gRPC services (import name ``otelconform``).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
import os

# gRPC's C core logs every failed TLS handshake (the ones TLS-002 provokes on purpose) and
# every GOAWAY at INFO; a user's terminal should show only what is wrong. Read at gRPC's
# first use, so set before any channel or server exists; a user's own setting wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

__version__ = "0.1.0"

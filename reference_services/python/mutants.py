"""Deliberately broken variants of the reference, to prove each check can fail.

``CONFORMANCE_MUTANT=<name>`` breaks exactly one behaviour. ``stock`` is not a bug we
made: it is the service with opentelemetry-instrumentation-grpc as shipped, without the
corrections in ``rpc_semconv``, so the suite shows what stock instrumentation misses.
"""
from __future__ import annotations

import os

MUTANTS = {
    "drop-incoming-context": "the server ignores incoming traceparent/tracestate/baggage",
    "no-outgoing-inject": "outgoing calls carry no trace context",
    "wrong-span-kind": "server spans are exported as INTERNAL",
    "no-service-version": "the resource lacks service.version",
    "error-status-ok": "server spans of failed calls get status OK",
    "log-without-context": "log records are emitted outside the server span's context",
    "metric-renamed": "the RPC duration histogram is exported as rpc.server.latency",
    "stock": "stock opentelemetry-instrumentation-grpc, no semconv corrections",
}


def active() -> str | None:
    name = os.environ.get("CONFORMANCE_MUTANT") or None
    if name is not None and name not in MUTANTS:
        raise SystemExit(f"unknown CONFORMANCE_MUTANT {name!r}; known: {', '.join(MUTANTS)}")
    return name

"""Deliberately broken variants of the reference, to prove each check can fail.

``CONFORMANCE_MUTANT=<name>`` breaks exactly one behaviour. ``stock`` is not a bug we
made: it is the service with opentelemetry-instrumentation-grpc as shipped, without the
corrections in ``rpc_semconv``, so the suite shows what stock instrumentation misses.
"""
from __future__ import annotations

import os

from chain_mutants import MUTANTS as CHAIN_MUTANTS
from config_mutants import MUTANTS as CONFIG_MUTANTS
from w3c_mutants import MUTANTS as W3C_MUTANTS

MUTANTS = {
    "drop-incoming-context": "the server ignores incoming traceparent/tracestate/baggage",
    "no-outgoing-inject": "outgoing calls carry no trace context",
    "wrong-span-kind": "server spans are exported as INTERNAL",
    "no-service-version": "the resource lacks service.version",
    "error-status-ok": "server spans of failed calls get status OK",
    "log-without-context": "log records are emitted outside the server span's context",
    "metric-renamed": "the RPC duration histogram is exported as rpc.server.latency",
    "invent-parent": "a call without traceparent gets a server span under a made-up parent",
    "wrong-rpc-system": "server spans say rpc.system=grpc-python",
    "status-attr-ok": "server spans keep rpc.grpc.status_code=0 whatever the outcome",
    "drop-status-message": "Fail returns the requested code without its message",
    "deadline-recorded-ok": "a call that ran past its deadline is recorded as OK on the server span",
    "cancel-recorded-ok": "a call the client cancelled is recorded as OK on the server span",
    "span-ends-early": "server spans of traced calls end a thousandth of the way into the call",
    "span-per-stream-message": "a server stream gets one more SERVER span per message it sends",
    "duration-recorded-twice": "the server duration histogram records every call twice",
    "metric-code-ok": "the server duration histogram records every call under status code 0",
    "duration-seconds-under-ms": "the server duration histogram records seconds under its unit 'ms'",
    "delta-labelled-cumulative": "metrics are collected as deltas but exported labelled cumulative",
    "no-client-metric": "outgoing calls record no client duration histogram",
    "client-outcome-ok": "client spans report every outgoing call as OK (status UNSET, status code 0)",
    "ignore-service-name": "service.name is hard-coded, OTEL_SERVICE_NAME is ignored",
    "severity-shifted": "WARNING log records get severity number 9 (INFO)",
    "log-time-in-microseconds": "log record timestamps are microseconds where OTLP wants nanoseconds",
    "log-foreign-resource": "log records are exported under another service.name",
    "metrics-resource-differs": "the meter provider gets a resource of its own, without service.version",
    "metadata-as-attributes": "every incoming metadata value, authorization included, becomes a server span "
                              "attribute rpc.grpc.request.metadata.<key>",
    "no-flush-on-exit": "on SIGTERM the process exits at once, without shutting the providers down",
    "stock": "stock opentelemetry-instrumentation-grpc, no semconv corrections",
    **W3C_MUTANTS,
    **CONFIG_MUTANTS,
    **CHAIN_MUTANTS,
}


def active() -> str | None:
    name = os.environ.get("CONFORMANCE_MUTANT") or None
    if name is not None and name not in MUTANTS:
        raise SystemExit(f"unknown CONFORMANCE_MUTANT {name!r}; known: {', '.join(MUTANTS)}")
    return name

"""Incoming credentials stay out of telemetry.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from otelconform.contract import pb
from otelconform.ids import parse_traceparent, unique
from otelconform.observe import CLIENT, log_where
from otelconform.registry import check
from otelconform.verdicts import Mismatch, NoTelemetry

from ._calls import downstream_calls, traced_call

CREDENTIALS_SPEC = (
    "semconv docs/rpc/grpc.md §gRPC attributes (rpc.grpc.request.metadata.<key>, now rpc.request.metadata.<key>: "
    "Opt-In, 'Instrumentations SHOULD require an explicit configuration of which metadata values are to be "
    "captured. Including all request metadata values can be a security risk'); W3C Baggage §Privacy "
    "Considerations and §Security Considerations (baggage crosses trust boundaries: no credentials in it)")


def _incoming_credentials() -> tuple[tuple[str, str], ...]:
    """Credential-bearing metadata of made-up value, each distinct enough to be found anywhere."""
    return (("authorization", f"Bearer {unique('cred-bearer')}"), ("cookie", f"session={unique('cred-cookie')}"),
            ("x-api-key", unique("cred-api-key")))


def _secrets(credentials) -> dict[str, str]:
    """The secret part of each value, by metadata key: what must not show up copied."""
    return {key: value.split(" ", 1)[-1].split("=", 1)[-1] for key, value in credentials}


def _strings(value, where: str):
    """(where, text) for every string inside an attribute value, arrays and maps included."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")


def _leaks(places, secrets: dict[str, str]) -> list[str]:
    return [f"the incoming {key} in {where}" for where, text in places for key, secret in secrets.items()
            if secret in text]


def _server_span_arrived(suite, traces: set[str], method: str) -> None:
    """Wait for the call's server span (it ends after an outgoing call's and may come in a
    later export); without it there is nothing to judge, which is the span checks' finding."""
    if not suite.watch.wait("traces", lambda: any(s.kind != CLIENT for t in traces for s in suite.collector.spans(t)),
                            f"the target's server span of its {method} call (traces {sorted(traces)})"):
        raise NoTelemetry(f"no server span of the {method} call arrived within {suite.telemetry_timeout:g}s (traces "
                          f"{sorted(traces)}), so whether it copies incoming credentials cannot be judged; see the "
                          f"span checks (SPAN-001, PROP-001) for why")


@check("SEC-001", "SHOULD", "incoming credentials (authorization, cookie, x-api-key) are not copied into spans, "
       "log records or outgoing baggage", CREDENTIALS_SPEC, "traces", killed_by=("metadata-as-attributes",),
       fix="Do not copy incoming credential metadata (authorization, cookie, x-api-key) into span attributes or "
           "events, log records, baggage or tracestate: capture request metadata (rpc.grpc.request.metadata.<key>, "
           "rpc.request.metadata.<key> in semconv-1.44) only from an explicit allowlist that leaves credentials "
           "out.")
def test_sec_001_incoming_credentials_stay_out_of_telemetry(suite):
    credentials = _incoming_credentials()
    suite.redactor.learn(credentials)  # made up, but no report shows them either
    secrets = _secrets(credentials)
    payload = unique("sec-001")
    _, relay_trace, _ = traced_call(suite, "relay", suite.downstream.address, payload, calls=1, extra=credentials)
    (outgoing,) = downstream_calls(suite, payload, 1)[:1]
    # The traces the target actually used: whether it continued the suite's is PROP-*'s finding.
    traces = {relay_trace, *(p[1] for p in map(parse_traceparent, outgoing.values("traceparent")) if p)}
    _server_span_arrived(suite, traces, "Relay")
    places = [(f"the outgoing call's {key} header", value) for key, value in outgoing.metadata
              if key in ("baggage", "tracestate")]
    if suite.watch.arrived("logs"):
        message = unique("sec-001 log")
        traced_call(suite, "log", message, pb.SEVERITY_INFO, {}, extra=credentials)
        record = log_where(suite, lambda r: r.body == message, f"log record with body {message!r}")
        places += _strings(record.body, "the log record's body")
        places += _strings(record.attributes, "the log record's attribute")
        if record.trace_id.strip("0"):
            traces.add(record.trace_id)
            _server_span_arrived(suite, {record.trace_id}, "Log")
    for trace_id in traces:
        for span in suite.collector.spans(trace_id):
            for key, value in span.attributes.items():
                places += _strings(value, f"span '{span.name}' attribute {key}")
            for event in span.span.events:
                places += [(f"span '{span.name}' event '{event.name}'", str(event))]
            places.append((f"the name of span '{span.span_id}'", span.name))
    leaks = sorted(set(_leaks(places, secrets)))
    if leaks:
        raise Mismatch(f"expected no incoming credential in the target's telemetry, found {len(leaks)}: "
                       f"{'; '.join(leaks[:6])}; capture request metadata only from an explicit allowlist that "
                       f"leaves credentials out (rpc.grpc.request.metadata.<key> is opt-in for this reason), and "
                       f"never copy credentials into log records or baggage")

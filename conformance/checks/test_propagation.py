"""W3C Trace Context and Baggage propagation, incoming and outgoing."""
from __future__ import annotations

from otelconform.contract import full_method, pb
from otelconform.ids import new_span_id, new_trace_id, parse_traceparent, traceparent, unique
from otelconform.observe import client_span, span_for_call, target_rooted_spans
from otelconform.registry import check
from otelconform.verdicts import Mismatch, NoTelemetry, expect, expect_equal

W3C_TC = "W3C Trace Context §3.2 traceparent / §3.3 tracestate"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"


@check("PROP-001", "MUST", "server span continues the incoming trace",
       "W3C Trace Context §3.2.2.3 parent-id; OTel propagators API (Extract)", "traces",
       killed_by=("drop-incoming-context",))
def test_prop_001_server_span_continues_incoming_trace(suite):
    trace_id, parent_id = new_trace_id(), new_span_id()
    suite.client.echo(unique("prop-001"), metadata=(("traceparent", traceparent(trace_id, parent_id)),)).require_ok()
    span = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
    expect_equal("trace id of the target's span", trace_id, span.trace_id)
    expect_equal("parent span id of the target's span", parent_id, span.parent_span_id)


@check("PROP-002", "MUST", "no traceparent: the server span is the root of a new trace",
       "W3C Trace Context §3.2 (no header: start a new trace); OTel trace API §Span creation", "traces",
       killed_by=("invent-parent",))
def test_prop_002_no_traceparent_starts_new_root(suite):
    result = suite.client.call("Sleep", pb.SleepRequest(duration_ms=1)).require_ok()
    method = full_method("Sleep")
    found = suite.collector.wait_for(lambda: target_rooted_spans(suite.collector, method, result),
                                     suite.telemetry_timeout)
    if not found:
        raise NoTelemetry(f"no span named {method!r} in a trace of the target's own arrived within "
                          f"{suite.telemetry_timeout:.0f}s of a call without traceparent")
    expect_equal("parent span id of a span started without traceparent", "", found[0].parent_span_id)
    expect(found[0].trace_id.strip("0") != "", "trace id", "a valid (non-zero) new trace id",
           found[0].trace_id)


@check("PROP-003", "MUST", "unsampled parent: no server span is exported (parent-based sampler)",
       "W3C Trace Context §3.2.2.5 trace-flags (sampled); OTel SDK §Sampling ParentBased "
       "(default OTEL_TRACES_SAMPLER=parentbased_always_on)", "traces",
       killed_by=("drop-incoming-context",))
def test_prop_003_unsampled_parent_is_not_exported(suite):
    unsampled_trace, parent = new_trace_id(), new_span_id()
    unsampled_call = suite.client.echo(unique("prop-003"), metadata=(
        ("traceparent", traceparent(unsampled_trace, parent, sampled=False)),)).require_ok()
    # A sampled call made afterwards is a barrier: once its span is in, the exporter has
    # flushed past the unsampled one, so its absence is meaningful.
    barrier_trace, barrier_parent = new_trace_id(), new_span_id()
    suite.client.echo(unique("prop-003-barrier"), metadata=(
        ("traceparent", traceparent(barrier_trace, barrier_parent)),)).require_ok()
    span_for_call(suite.collector, barrier_trace, barrier_parent, suite.telemetry_timeout)
    exported = suite.collector.spans(unsampled_trace)
    if exported:
        raise Mismatch(f"expected no span for unsampled trace {unsampled_trace}, got: "
                       + "; ".join(s.summary() for s in exported))
    rerooted = target_rooted_spans(suite.collector, full_method("Echo"), unsampled_call)
    if rerooted:
        raise Mismatch("expected no span for a call with an unsampled parent, but the target "
                       "recorded it as a new root: " + rerooted[0].summary())


def _relay(suite, tag: str, calls: int = 1, extra=()):
    trace_id, parent_id = new_trace_id(), new_span_id()
    payload = unique(tag)
    metadata = (("traceparent", traceparent(trace_id, parent_id)), *extra)
    suite.client.relay(suite.downstream.address, payload, calls=calls, metadata=metadata).require_ok()
    observed = suite.downstream.wait_for_calls(payload, calls, suite.telemetry_timeout)
    if len(observed) < calls:
        raise Mismatch(f"Relay should have made {calls} call(s) to the downstream, it made {len(observed)}")
    return trace_id, parent_id, observed


def _outgoing_traceparent(call) -> tuple[str, str, str, str]:
    values = call.values("traceparent")
    if len(values) != 1:
        raise Mismatch(f"outgoing call: expected exactly one traceparent header, got {values!r}")
    parsed = parse_traceparent(values[0])
    if parsed is None:
        raise Mismatch(f"outgoing traceparent is not valid W3C version 00: {values[0]!r}")
    return parsed


@check("PROP-004", "MUST", "outgoing call carries the same trace id",
       W3C_TC + "; OTel propagators API (Inject)", "traces", killed_by=("no-outgoing-inject",))
def test_prop_004_outgoing_call_keeps_trace_id(suite):
    trace_id, _, (call,) = _relay(suite, "prop-004")
    expect_equal("trace id sent downstream", trace_id, _outgoing_traceparent(call)[1])


@check("PROP-005", "MUST", "outgoing parent id is the target's exported client span",
       "W3C Trace Context §3.2.2.3 parent-id (the caller's own span id)", "traces",
       killed_by=("no-outgoing-inject",))
def test_prop_005_outgoing_parent_is_client_span(suite):
    trace_id, parent_id, (call,) = _relay(suite, "prop-005")
    _, _, sent_parent, _ = _outgoing_traceparent(call)
    expect(sent_parent != parent_id, "parent id sent downstream",
           f"a new span id, not the incoming parent {parent_id}", sent_parent)
    server = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
    client = client_span(suite.collector, trace_id, server, suite.telemetry_timeout)
    expect_equal("parent id sent downstream vs the target's exported client span id",
                 client.span_id, sent_parent)


@check("PROP-006", "MUST", "outgoing call keeps the sampled flag",
       "W3C Trace Context §3.2.2.5 trace-flags", "traces", killed_by=("no-outgoing-inject",))
def test_prop_006_outgoing_call_keeps_sampled_flag(suite):
    _, _, (call,) = _relay(suite, "prop-006")
    flags = int(_outgoing_traceparent(call)[3], 16)
    expect(flags & 0x01 == 0x01, "trace-flags sent downstream", "sampled bit 0x01 set", f"{flags:02x}")


@check("PROP-007", "MUST", "outgoing call carries the incoming tracestate",
       "W3C Trace Context §3.3 tracestate (mutation rules: only the own entry may be added/moved)",
       "traces", killed_by=("no-outgoing-inject",))
def test_prop_007_outgoing_call_keeps_tracestate(suite):
    _, _, (call,) = _relay(suite, "prop-007", extra=(("tracestate", TRACESTATE),))
    received = ",".join(call.values("tracestate"))
    members = [m.strip() for m in received.split(",") if m.strip()]
    sent = TRACESTATE.split(",")
    # A participant may put one entry of its own in front; everything else must be intact.
    others = members[1:] if members[:1] and members[0] not in sent else members
    expect_equal("tracestate members sent downstream (after the target's own entry, if any)", sent, others)


@check("PROP-008", "SHOULD", "outgoing call carries the incoming baggage",
       "W3C Baggage §3 (propagate all members when within limits); seed Appendix A", "traces",
       killed_by=("no-outgoing-inject",))
def test_prop_008_outgoing_call_keeps_baggage(suite):
    sent = {"userId": "12345", "requestId": unique("req")}
    header = ",".join(f"{k}={v}" for k, v in sent.items())
    _, _, (call,) = _relay(suite, "prop-008", extra=(("baggage", header),))
    received = {}
    for value in call.values("baggage"):
        for member in value.split(","):
            key, _, rest = member.partition("=")
            if key.strip():
                received[key.strip()] = rest.split(";")[0].strip()
    expect_equal("baggage members sent downstream", sent, {k: received.get(k) for k in sent})


@check("PROP-009", "MUST", "several outgoing calls carry distinct parent ids",
       "W3C Trace Context §3.2.2.3 parent-id (one span per outgoing request)", "traces",
       killed_by=("no-outgoing-inject",))
def test_prop_009_outgoing_calls_have_distinct_parents(suite):
    trace_id, _, calls = _relay(suite, "prop-009", calls=3)
    parsed = [_outgoing_traceparent(c) for c in calls]
    expect_equal("trace ids of the 3 outgoing calls", [trace_id] * 3, [p[1] for p in parsed])
    parents = [p[2] for p in parsed]
    expect(len(set(parents)) == 3, "parent ids of the 3 outgoing calls", "3 distinct span ids", parents)

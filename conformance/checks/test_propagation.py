"""W3C Trace Context and Baggage propagation, incoming and outgoing.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import client_span, server_span, untraced_call_spans
from otelconform.registry import check
from otelconform.tracestate import forwarding_error
from otelconform.verdicts import Mismatch, expect, expect_equal

from ._calls import outgoing_traceparent, relay, traced_ok_call, untraced_method, untraced_sleep

W3C_TC = "W3C Trace Context §3.2 traceparent / §3.3 tracestate"
# Three entries, so that a reordering can be told from one entry moved to the front.
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant1@vendor=t1"


@check("PROP-001", "MUST", "server span continues the incoming trace",
       "W3C Trace Context §3.2.2.3 parent-id; OTel propagators API (Extract)", "traces",
       killed_by=("drop-incoming-context",), zero_contract=True,
       fix="Install the W3C TraceContext propagator (OTEL_PROPAGATORS=tracecontext,baggage or the SDK's global "
           "propagator) and start the server span from the context extracted from the incoming metadata (the gRPC "
           "server instrumentation does this when registered as an interceptor or stats handler).")
def test_prop_001_server_span_continues_incoming_trace(suite):
    _, trace_id, parent_id = traced_ok_call(suite, "prop-001")
    span = server_span(suite, trace_id, parent_id)
    expect_equal("trace id of the target's span", trace_id, span.trace_id)
    expect_equal("parent span id of the target's span", parent_id, span.parent_span_id)


@check("PROP-002", "MUST", "no traceparent: the server span is the root of a new trace",
       "W3C Trace Context §3.2 (no header: start a new trace); OTel trace API §Span creation", "traces",
       killed_by=("invent-parent",), zero_contract=True,
       fix="Trace calls that carry no traceparent too, and start their server span as the root of a new trace: do "
           "not give it a parent of the service's own making or a context left over from another call.")
def test_prop_002_no_traceparent_starts_new_root(suite):
    method = untraced_method(suite)
    with suite.untraced_turn:
        call, requested = untraced_sleep(suite)
        found = suite.watch.wait("traces", lambda: untraced_call_spans(suite, method, call, requested),
                                 f"the span of a {method} call made without traceparent")
    if not found:
        raise Mismatch(f"no span for a {method} call made without traceparent: expected a span outside the "
                       f"suite's traces naming the {method} method and lasting {requested * 1000:.0f}-"
                       f"{(call.ended_at - call.started_at) * 1000:.0f} ms, got none within "
                       f"{suite.telemetry_timeout:g}s; a call without trace context must still be traced, "
                       f"as the root of a new trace")
    for span in found:
        expect_equal("parent span id of a span started without traceparent", "", span.parent_span_id)
        expect(span.trace_id.strip("0") != "", "trace id", "a valid (non-zero) new trace id", span.trace_id)


@check("PROP-003", "MUST", "unsampled parent: no server span is exported (parent-based sampler)",
       "W3C Trace Context §3.2.2.5 trace-flags (sampled); OTel SDK §Sampling ParentBased "
       "(default OTEL_TRACES_SAMPLER=parentbased_always_on)", "traces",
       killed_by=("drop-incoming-context",), zero_contract=True,
       fix="Use a parent-based sampler (the default, OTEL_TRACES_SAMPLER=parentbased_always_on) and extract the "
           "incoming context before the server span starts, so that a parent with trace-flags 00 gets a "
           "non-recorded span; do not configure always_on.")
def test_prop_003_unsampled_parent_is_not_exported(suite):
    method = untraced_method(suite)
    unsampled_trace, parent = new_trace_id(), new_span_id()
    with suite.untraced_turn:
        unsampled_call, requested = untraced_sleep(
            suite, metadata=(("traceparent", traceparent(unsampled_trace, parent, sampled=False)),))
        # A sampled call made afterwards is a barrier: once its span is in, the exporter has
        # flushed past the unsampled one, so its absence is meaningful.
        _, barrier_trace, barrier_parent = traced_ok_call(suite, "prop-003-barrier")
        server_span(suite, barrier_trace, barrier_parent)
        recorded = (suite.collector.spans(unsampled_trace)
                    or [s for s in suite.collector.spans() if s.parent_span_id == parent]
                    or untraced_call_spans(suite, method, unsampled_call, requested))
    if recorded:
        raise Mismatch("expected no span for a call whose parent is unsampled (trace-flags 00), got: "
                       + recorded[0].summary() + "; a parent-based sampler must follow the incoming "
                       "sampled flag instead of recording the call (in that trace or a new one)")


@check("PROP-004", "MUST", "outgoing call carries the same trace id",
       W3C_TC + "; OTel propagators API (Inject)", "traces", killed_by=("no-outgoing-inject",), zero_contract=True,
       fix="Inject the current context into the metadata of every outgoing call with the global propagator "
           "(register the gRPC client instrumentation, e.g. otelgrpc.NewClientHandler() in Go), and make the call "
           "with the request's context, so that it carries the incoming trace id.")
def test_prop_004_outgoing_call_keeps_trace_id(suite):
    trace_id, _, (call,) = relay(suite, "prop-004")
    expect_equal("trace id sent downstream", trace_id, outgoing_traceparent(call)[1])


@check("PROP-005", "MUST", "outgoing parent id is the target's exported client span",
       "W3C Trace Context §3.2.2.3 parent-id (the caller's own span id)", "traces",
       killed_by=("no-outgoing-inject",), zero_contract=True,
       fix="Make each outgoing call inside a CLIENT span of its own (the gRPC client instrumentation does this) and "
           "inject that span's context, so that the parent id sent downstream is the exported client span's id, not "
           "the incoming parent's or the server span's.")
def test_prop_005_outgoing_parent_is_client_span(suite):
    trace_id, parent_id, (call,) = relay(suite, "prop-005")
    _, _, sent_parent, _ = outgoing_traceparent(call)
    expect(sent_parent != parent_id, "parent id sent downstream",
           f"a new span id, not the incoming parent {parent_id}", sent_parent)
    server = server_span(suite, trace_id, parent_id, outgoing=True)
    client = client_span(suite, trace_id, server)
    expect_equal("parent id sent downstream vs the target's exported client span id",
                 client.span_id, sent_parent)


@check("PROP-006", "MUST", "outgoing call keeps the sampled flag",
       "W3C Trace Context §3.2.2.5 trace-flags", "traces", killed_by=("no-outgoing-inject",), zero_contract=True,
       fix="Make outgoing calls from the context in which the server span is current, so that the injected "
           "trace-flags keep the sampled bit (01) of a sampled trace; do not inject a fresh or unsampled context.")
def test_prop_006_outgoing_call_keeps_sampled_flag(suite):
    _, _, (call,) = relay(suite, "prop-006")
    flags = int(outgoing_traceparent(call)[3], 16)
    expect(flags & 0x01 == 0x01, "trace-flags sent downstream", "sampled bit 0x01 set", f"{flags:02x}")


@check("PROP-007", "MUST", "outgoing call carries the incoming tracestate",
       "W3C Trace Context §3.3.1.3 mutating the tracestate field (add or update the own entry, "
       "moved to the front; other entries kept, in order)", "traces", killed_by=("no-outgoing-inject",),
       zero_contract=True,
       fix="Extract the incoming tracestate with the W3C TraceContext propagator and inject it on outgoing calls "
           "unchanged (only the service's own entry may be added or updated, at the front); do not drop, rebuild or "
           "reorder the list.")
def test_prop_007_outgoing_call_keeps_tracestate(suite):
    _, _, (call,) = relay(suite, "prop-007", extra=(("tracestate", TRACESTATE),))
    error = forwarding_error(TRACESTATE, call.values("tracestate"))
    if error:
        raise Mismatch(error + "; forward the incoming tracestate through the SDK's propagator")


@check("PROP-008", "SHOULD", "outgoing call carries the incoming baggage",
       "W3C Baggage §3 (propagate all members when within limits); architecture Appendix A", "traces",
       killed_by=("no-outgoing-inject",), zero_contract=True,
       fix="Install the W3C Baggage propagator beside TraceContext (OTEL_PROPAGATORS=tracecontext,baggage or a "
           "composite propagator in code) and make outgoing calls from the request's context, so that incoming "
           "baggage is forwarded.")
def test_prop_008_outgoing_call_keeps_baggage(suite):
    sent = {"userId": "12345", "requestId": unique("req")}
    header = ",".join(f"{k}={v}" for k, v in sent.items())
    _, _, (call,) = relay(suite, "prop-008", extra=(("baggage", header),))
    received = {}
    for value in call.values("baggage"):
        for member in value.split(","):
            key, _, rest = member.partition("=")
            if key.strip():
                received[key.strip()] = rest.split(";")[0].strip()
    expect_equal("baggage members sent downstream", sent, {k: received.get(k) for k in sent})


@check("PROP-009", "MUST", "several outgoing calls carry distinct parent ids",
       "W3C Trace Context §3.2.2.3 parent-id (one span per outgoing request)", "traces",
       killed_by=("no-outgoing-inject",),
       fix="Start a CLIENT span for each outgoing call and inject that span's context, so that every outgoing call "
           "carries a parent id of its own; do not inject the server span's context or reuse one client span for "
           "several calls.")
def test_prop_009_outgoing_calls_have_distinct_parents(suite):
    trace_id, _, calls = relay(suite, "prop-009", calls=3)
    parsed = [outgoing_traceparent(c) for c in calls]
    expect_equal("trace ids of the 3 outgoing calls", [trace_id] * 3, [p[1] for p in parsed])
    parents = [p[2] for p in parsed]
    expect(len(set(parents)) == 3, "parent ids of the 3 outgoing calls", "3 distinct span ids", parents)

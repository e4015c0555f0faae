"""How long spans last: a Sleep's span against what was asked and measured, and a server
stream's one span inside the call. Durations only: the target's clock may be off.

Whether a stream's span ends after its last message cannot be told from the client: the
server may hand every message to its buffers long before this process reads them. A span
ended before the stream is over is caught by DEAD-003 instead, which cancels a stream
mid-way and wants the span to say CANCELLED.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc

from otelconform.ids import unique
from otelconform.observe import duration_s, identifies_method, server_span
from otelconform.profiles import STATUS_ATTRIBUTES
from otelconform.registry import check
from otelconform.verdicts import Mismatch, TargetUnresponsive

from ._calls import traced_call

SPAN_TIMES = "OTel trace API §Span (start and end timestamps), §End (the end of the operation)"
SLEEP_MS = 120
STREAM_MESSAGES = 400


def _upper_bound(measured_s: float) -> float:
    """A span lies inside its call as the suite measured it, give or take clock resolution."""
    return measured_s + 0.005 + 0.02 * measured_s


@check("SPAN-007", "MUST", "a server span lasts as long as its call: no shorter than the Sleep asked, "
       "no longer than the suite measured", SPAN_TIMES + "; contract Sleep (waits duration_ms)", "traces",
       killed_by=("span-ends-early",),
       fix="Start the server span when the call arrives and end it when the call ends, with nanosecond timestamps "
           "from one clock, as the gRPC server instrumentation does; do not end it when the handler starts or "
           "before the response is sent.")
def test_span_007_sleep_span_duration(suite):
    result, trace_id, parent_id = traced_call(suite, "sleep", SLEEP_MS)
    measured = result.ended_at - result.started_at
    if measured < SLEEP_MS / 1000 - 0.001:
        raise TargetUnresponsive(f"contract method Sleep should have taken at least {SLEEP_MS} ms but returned "
                                 f"after {measured * 1000:.0f} ms: Sleep must wait duration_ms")
    span = server_span(suite, trace_id, parent_id)
    low, high = SLEEP_MS / 1000 - 0.001, _upper_bound(measured)
    lasted = duration_s(span)
    if not low <= lasted <= high:
        raise Mismatch(f"server span of a Sleep({SLEEP_MS} ms) call that the suite measured at "
                       f"{measured * 1000:.1f} ms: expected a duration between {low * 1000:.0f} and "
                       f"{high * 1000:.1f} ms, got {lasted * 1000:.3f} ms; start the span when the call "
                       f"arrives and end it when the call ends, with nanosecond timestamps of one clock")


def _streamed(suite):
    """A traced StreamEcho that delivered every message; (result, trace_id, parent_id)."""
    result, trace_id, parent_id = traced_call(suite, "stream_echo", unique("stream"), STREAM_MESSAGES)
    if len(result.responses) != STREAM_MESSAGES:
        raise TargetUnresponsive(f"contract method StreamEcho should have sent {STREAM_MESSAGES} messages but "
                                 f"sent {len(result.responses)}: StreamEcho must send count messages, then end OK")
    return result, trace_id, parent_id


@check("SPAN-008", "MUST", "a server stream has one SERVER span, for its method and its final status, "
       "inside the call", "semconv docs/rpc/rpc-spans.md §Span name, §Common attributes (one span per RPC, "
       "streaming included); " + SPAN_TIMES, "traces", killed_by=("span-per-stream-message",),
       fix="Make one SERVER span per streaming RPC, named after its method, and end it when the stream ends, with "
           "the stream's final status; do not start a span per message.")
def test_span_008_stream_has_one_span(suite):
    result, trace_id, parent_id = _streamed(suite)
    span = server_span(suite, trace_id, parent_id)
    # Per-message spans would end before the stream's own, so some are in by the time it is.
    # Spans of the stream's own kind (its kind is SPAN-001's), by distinct id: a span exported
    # twice is SPAN-005's finding, not a second span.
    servers = list({s.span_id: s for s in suite.collector.spans(trace_id) if s.kind == span.kind}.values())
    if len(servers) != 1:
        raise Mismatch(f"StreamEcho with {STREAM_MESSAGES} messages: expected one server span for the "
                       f"whole stream, got {len(servers)} ({'; '.join(s.summary() for s in servers[:4])}); "
                       f"make one span per RPC, not one per message")
    # Which attribute names carry the method is SPAN-003's to judge; here only that it is StreamEcho.
    if not identifies_method(span, "StreamEcho"):
        raise Mismatch(f"server span of a StreamEcho call names another method: {span.summary()} "
                       f"(attributes: {span.attributes}); name the stream's span after its RPC method")
    # Likewise the status attribute's name is STAT-002's; here only that none contradicts OK.
    contradicting = {k: v for k, v in span.attributes.items() if k in STATUS_ATTRIBUTES
                     and v not in (grpc.StatusCode.OK.value[0], grpc.StatusCode.OK.name)}
    if contradicting or span.status == "STATUS_CODE_ERROR":
        raise Mismatch(f"server span of a StreamEcho call that ended OK records another outcome: "
                       f"{contradicting or span.status}; record the stream's final status, once it has ended")
    measured = result.ended_at - result.started_at
    if duration_s(span) > _upper_bound(measured):
        raise Mismatch(f"server span of a StreamEcho call the suite measured at {measured * 1000:.1f} ms: "
                       f"expected at most {_upper_bound(measured) * 1000:.1f} ms, got "
                       f"{duration_s(span) * 1000:.1f} ms; end the span when the stream ends")

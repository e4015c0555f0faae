"""Calls that end early: past their deadline, or cancelled by the client. The server span
must record how the call really ended, not what the handler returned afterwards.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc

from otelconform.ids import new_span_id, new_trace_id, traceparent
from otelconform.observe import duration_s, server_span
from otelconform.registry import check
from otelconform.verdicts import Mismatch, TargetUnresponsive

from ._calls import outcome_recorded, traced_call

GRPC_DEADLINES = "gRPC doc/deadlines.md; gRPC over HTTP/2 §Requests (grpc-timeout)"
# Long enough that a busy server has surely started the handler (grpcio skips a handler whose
# call expired in its queue, and then no span exists), short against the 3 s sleep.
DEADLINE_S = 0.5
SLEEP_MS = 3000  # far past the deadline, so the span's end tells which of the two it followed
# Enough messages that the stream cannot be over when the client cancels after the first.
CANCEL_MESSAGES, CANCEL_PAYLOAD = 200_000, "c" * 512


def _past_deadline(suite):
    """One traced Sleep(3 s) stating a short deadline, which the target itself must enforce
    (this client waits longer, so no cancellation of its own races the target's deadline);
    DEAD-001 and DEAD-002 judge the same call."""
    return suite.once("a call past its deadline", lambda: _call_past_deadline(suite))


def _call_past_deadline(suite):
    trace_id, parent_id = new_trace_id(), new_span_id()
    result = suite.exact_client.sleep(SLEEP_MS, metadata=(("traceparent", traceparent(trace_id, parent_id)),),
                                      timeout=SLEEP_MS / 1000 + 1, grpc_timeout=DEADLINE_S)
    # At its deadline a server answers DEADLINE_EXCEEDED, resets the stream (grpc-go may) or
    # answers CANCELLED (tonic's deadline layer does): all three enforce the deadline, if not early.
    if result.code != grpc.StatusCode.CANCELLED or result.ended_at - result.started_at < DEADLINE_S * 0.9:
        result.require(grpc.StatusCode.DEADLINE_EXCEEDED)
    return result, server_span(suite, trace_id, parent_id)


@check("DEAD-001", "MUST", "a call past its deadline: the server span records DEADLINE_EXCEEDED",
       GRPC_DEADLINES + "; semconv docs/rpc/grpc.md §gRPC status (the code the call ended with)", "traces",
       killed_by=("deadline-recorded-ok",),
       fix="Record the code the call actually ended with: when its deadline passes, the server span says "
           "DEADLINE_EXCEEDED (rpc.grpc.status_code=4 in semconv-1.38, rpc.response.status_code=DEADLINE_EXCEEDED "
           "in semconv-1.44), not the OK the handler returns afterwards: take the code from the status actually "
           "sent, or from the call's context once its deadline passed.")
def test_dead_001_deadline_is_recorded(suite):
    result, span = _past_deadline(suite)
    if result.code == grpc.StatusCode.CANCELLED:
        # The target ended the call CANCELLED at its deadline (a reset stream reads so too,
        # gRPC over HTTP/2 §Errors): a span saying CANCELLED agrees with what the target sent,
        # one saying DEADLINE_EXCEEDED with why; OK or any other code with neither.
        try:
            outcome_recorded(suite, "server-span", span, "Sleep", grpc.StatusCode.CANCELLED)
            return
        except Mismatch:
            pass
    # Which span status each code gets is STAT-003's rule; here the code must be the real one.
    outcome_recorded(suite, "server-span", span, "Sleep", grpc.StatusCode.DEADLINE_EXCEEDED)


@check("DEAD-002", "SHOULD", "a call past its deadline: the server span ends near the deadline, not when "
       "the work would have finished", GRPC_DEADLINES + "; OTel trace API §End; contract Sleep (returns when "
       "the deadline passes)", "traces",
       fix="Stop the handler's work when the call's deadline passes (watch the call's context or cancellation "
           "token, and pass it to whatever the handler waits on), and end the server span then, not when the work "
           "would have finished.")
def test_dead_002_span_ends_at_the_deadline(suite):
    _, span = _past_deadline(suite)
    # Halfway between the deadline and the end of the sleep: which of the two the span followed
    # is then clear, however loaded the machine.
    bound = (DEADLINE_S + SLEEP_MS / 1000) / 2
    if duration_s(span) > bound:
        raise Mismatch(f"server span of a Sleep({SLEEP_MS} ms) call with a {DEADLINE_S} s deadline: expected it "
                       f"to end within {bound:g} s, got {duration_s(span):.3f} s; stop the handler's work when "
                       f"the call's deadline passes (watch the call's context) and end the span then")


@check("DEAD-003", "MUST", "a call the client cancels: the server span records CANCELLED",
       "gRPC doc/statuscodes.md (CANCELLED: the operation was cancelled, typically by the caller); semconv "
       "docs/rpc/grpc.md §gRPC status (the code the call ended with)", "traces",
       killed_by=("cancel-recorded-ok",),
       fix="Record CANCELLED on the server span when the client cancels the call (rpc.grpc.status_code=1 in "
           "semconv-1.38, rpc.response.status_code=CANCELLED in semconv-1.44): take the code from the call's end, "
           "its cancelled context, not from what the handler or stream returns afterwards.")
def test_dead_003_cancel_is_recorded(suite):
    result, trace_id, parent_id = traced_call(suite, "stream_echo", CANCEL_PAYLOAD, CANCEL_MESSAGES,
                                              cancel_after=1, expect=grpc.StatusCode.CANCELLED)
    if not result.responses:
        raise TargetUnresponsive("contract method StreamEcho should have sent messages before the suite "
                                 "cancelled it, but sent none: StreamEcho must send count messages")
    span = server_span(suite, trace_id, parent_id)
    outcome_recorded(suite, "server-span", span, "StreamEcho", grpc.StatusCode.CANCELLED)
